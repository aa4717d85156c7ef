"""Tasks on the ``media`` queue: render an ingested video, run an import job.

Each claims its row first (annotation/services/stale_jobs.py): a delivery of a task whose row a live worker
holds does nothing, and the sweeper requeues a row whose worker died.
"""

from celery import shared_task

from annotation.models import ImportJob, Video
from annotation.services.imports import import_job_run
from annotation.services.media import process_video
from annotation.services.stale_jobs import job_claim, job_release

# An import job hands its worker back this often and queues its own continuation, so a job of 100k rows
# neither hits the task time limit nor holds a worker slot for hours.
IMPORT_SLICE_S = 300


@shared_task(name="workers.media.process_video")
def process_video_task(video_id: int) -> None:
    if not job_claim(Video, video_id):  # deleted, or a live worker has it
        return
    try:
        video = Video.objects.select_related("project").filter(pk=video_id).first()
        if video is not None:
            process_video(video=video)
    finally:
        job_release(Video, video_id)


@shared_task(name="workers.media.run_import")
def run_import_task(job_id: int) -> None:
    if not job_claim(ImportJob, job_id):
        return
    try:
        job = ImportJob.objects.select_related("project").filter(pk=job_id).first()
        finished = job is None or import_job_run(job=job, max_seconds=IMPORT_SLICE_S)
    finally:
        job_release(ImportJob, job_id)
    if not finished:
        run_import_task.delay(job_id)
