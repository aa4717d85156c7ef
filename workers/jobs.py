"""Upkeep on the default queue: the stale-job sweeper (from celery beat, every JOB_SWEEP_SECONDS:
CELERY_BEAT_SCHEDULE in config/settings.py). Not on the
media queue: a backlog of renders must not delay it."""

from celery import shared_task

from annotation.services.stale_jobs import stale_jobs_sweep


@shared_task
def sweep_stale_jobs() -> dict:
    return stale_jobs_sweep()
