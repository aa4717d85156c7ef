"""Upkeep of runs on the default queue: the sweeper (every RUN_SWEEP_SECONDS, from celery beat) and sending a
generation to a project. Not on the gpu queue: a GPU worker busy with a long run must not delay them."""

import os

from celery import shared_task

from config.celery import app
from rewardlab.services import reward_models, rounds, runs

SWEEP_SECONDS = float(os.environ.get("RUN_SWEEP_SECONDS", "30"))

app.conf.beat_schedule = {
    **(app.conf.beat_schedule or {}),
    "sweep-runs": {"task": "workers.run_ops.sweep_runs", "schedule": SWEEP_SECONDS, "options": {"expires": SWEEP_SECONDS}},
    "keep-videos-scored": {"task": "workers.run_ops.keep_videos_scored", "schedule": SWEEP_SECONDS,
                           "options": {"expires": SWEEP_SECONDS}},
}


@shared_task
def sweep_runs() -> dict:
    return runs.runs_sweep()


@shared_task
def keep_videos_scored() -> list[int]:
    return reward_models.reward_models_keep_scored()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def send_generation_round(generation_id: int, project_id: int, strategy: str, per_prompt: int | None = None) -> None:
    rounds.generation_round_ingest(generation_id=generation_id, project_id=project_id, strategy=strategy, per_prompt=per_prompt)
