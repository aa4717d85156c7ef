"""Tasks on the ``media`` queue: render an ingested video, plan an import job, run one of its chunks.

Each claims its row first (annotation/services/stale_jobs.py): a delivery of a task whose row a live worker
holds does nothing, and the sweeper requeues a row whose worker died.
"""

from celery import shared_task

from annotation.models import ImportChunk, ImportJob, Video
from annotation.services.imports import import_chunk_run, import_job_plan
from annotation.services.media import process_video
from annotation.services.stale_jobs import job_claim, job_release


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


@shared_task(name="workers.media.process_videos")
def process_videos_task(video_ids: list[int]) -> None:
    """Several videos one after another (a batch of imported rows): each claimed as process_video claims it."""
    for video_id in video_ids:
        process_video_task(video_id)


@shared_task(name="workers.media.run_import")
def run_import_task(job_id: int) -> None:
    """Split the job into chunks and queue one task per chunk, so every media worker takes a share."""
    if not job_claim(ImportJob, job_id):
        return
    try:
        job = ImportJob.objects.filter(pk=job_id).first()
        chunk_ids = [] if job is None else import_job_plan(job=job)
    finally:
        job_release(ImportJob, job_id)
    for chunk_id in chunk_ids:
        run_import_chunk_task.delay(chunk_id)


@shared_task(name="workers.media.run_import_chunk")
def run_import_chunk_task(chunk_id: int) -> None:
    if not job_claim(ImportChunk, chunk_id):
        return
    try:
        chunk = ImportChunk.objects.select_related("job__project", "job__created_by").filter(pk=chunk_id).first()
        if chunk is not None:
            import_chunk_run(chunk=chunk)
    finally:
        job_release(ImportChunk, chunk_id)
