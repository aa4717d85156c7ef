"""Upkeep on the default queue: the stale-job sweeper (every JOB_SWEEP_SECONDS, from celery beat). Not on the
media queue: a backlog of renders must not delay it."""

from celery import shared_task
from django.conf import settings

from annotation.services.stale_jobs import stale_jobs_sweep
from config.celery import app

app.conf.beat_schedule = {
    **(app.conf.beat_schedule or {}),
    "sweep-stale-jobs": {"task": "workers.jobs.sweep_stale_jobs", "schedule": settings.JOB_SWEEP_SECONDS,
                         "options": {"expires": settings.JOB_SWEEP_SECONDS}},
}


@shared_task
def sweep_stale_jobs() -> dict:
    return stale_jobs_sweep()
