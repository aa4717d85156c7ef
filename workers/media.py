"""Tasks on the ``media`` queue: render an ingested video, run an import job."""

from celery import shared_task

from annotation.models import ImportJob, Video
from annotation.services.imports import import_job_run
from annotation.services.media import process_video

# An import job hands its worker back this often and queues its own continuation, so a job of 100k rows
# neither hits the task time limit nor holds a worker slot for hours.
IMPORT_SLICE_S = 300


@shared_task(name="workers.media.process_video")
def process_video_task(video_id: int) -> None:
    video = Video.objects.select_related("project").filter(pk=video_id).first()
    if video is not None:  # deleted before its turn came
        process_video(video=video)


@shared_task(name="workers.media.run_import")
def run_import_task(job_id: int) -> None:
    job = ImportJob.objects.select_related("project").filter(pk=job_id).first()
    if job is not None and not import_job_run(job=job, max_seconds=IMPORT_SLICE_S):
        run_import_task.delay(job_id)
