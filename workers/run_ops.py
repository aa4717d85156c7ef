"""Upkeep of runs on the default queue: the sweeper (from celery beat, every RUN_SWEEP_SECONDS: CELERY_BEAT_SCHEDULE
in config/settings.py) and sending a generation to a project. Not on the gpu queue: a GPU worker busy with a long
run must not delay them."""

from celery import shared_task

from rewardlab.services import reward_models, rounds, runs


@shared_task
def sweep_runs() -> dict:
    return runs.runs_sweep()


@shared_task
def keep_videos_scored() -> list[int]:
    return reward_models.reward_models_keep_scored()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def send_generation_round(generation_id: int, project_id: int, strategy: str, per_prompt: int | None = None) -> None:
    rounds.generation_round_ingest(generation_id=generation_id, project_id=project_id, strategy=strategy, per_prompt=per_prompt)
