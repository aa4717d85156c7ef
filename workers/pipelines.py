"""Project pipelines on the default queue: the beat tick (every PIPELINE_TICK_SECONDS: CELERY_BEAT_SCHEDULE in
config/settings.py) fires triggers and advances executions, the safety net for steps no worker reports; workers
that finish a step advance its execution at once (workers/runs.py, workers/exports.py)."""

from celery import shared_task

from rewardlab.services import pipelines


@shared_task
def pipeline_tick() -> dict:
    return pipelines.pipelines_tick()
