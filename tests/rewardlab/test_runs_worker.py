"""Runs on a real Celery worker process (CPU, tiny models): they succeed, cancel, and survive killed workers."""

import os
import signal
from pathlib import Path

import pytest

from rewardlab.models import RewardEval, RewardModel, Run, RunMetric
from rewardlab.services.runs import runs_sweep
from tests.conftest import client_for, make_user, start_worker, stop_worker, wait_until
from tests.rewardlab import world
from tests.rewardlab.world import QUEUE, at_step, run_in, start_reward_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]  # Celery workers, training


def test_a_reward_run_trains_evaluates_and_registers_its_checkpoint(run_worker, trained_on):
    run_id = start_reward_run(trained_on)

    run = run_in(run_id, "succeeded", "failed")
    assert run.status == "succeeded", run.error
    assert run.progress == 1.0 and run.attempts == 1 and run.device.startswith("cpu")
    assert list(RunMetric.objects.filter(run=run, phase="train").values_list("step", flat=True)) == [1, 2, 3]
    assert set(RunMetric.objects.filter(run=run, step=3).get().values["acc"]) == {"vq", "mq"}

    model = RewardModel.objects.get(source_run_id=run_id)
    assert Path(model.checkpoint_dir, "reward_config.json").is_file() and model.dimensions == ["vq", "mq"]
    evaluation = RewardEval.objects.get(reward_model=model)
    assert evaluation.status == "succeeded" and evaluation.split == "test"
    assert set(evaluation.results["dimensions"]) == {"vq", "mq"} and evaluation.results["overall"]["n_pairs"] == 3

    admin = client_for(make_user("reader", staff=True))
    detail = admin.get(f"/api/v1/reward-runs/{run_id}/").json()
    assert detail["reward_model"] == model.pk and detail["train_result"]["steps"] == 3
    progress = admin.get(f"/api/v1/runs/{run_id}/progress/").json()
    assert [p["step"] for p in progress["metrics"] if p["phase"] == "train"] == [1, 2, 3]
    assert "succeeded" in progress["log_tail"]


def test_cancel_stops_a_running_run_at_its_next_step_and_resume_continues_it(run_worker, trained_on):
    run_id = start_reward_run(trained_on, max_steps=60, save_every=1000)  # the only checkpoint is the one cancel saves
    at_step(run_id, 2)
    admin = client_for(make_user("canceller", staff=True))

    response = admin.post(f"/api/v1/reward-runs/{run_id}/cancel/")
    assert response.status_code == 200 and response.json()["cancel_requested"]

    run = run_in(run_id, "cancelled", "failed", "succeeded")
    assert run.status == "cancelled", run.error
    stopped_at = run.step
    assert 2 <= stopped_at < 60 and f"cancelled at train step {stopped_at} of 60" in run.log
    assert Path(run.output_dir, "train", "checkpoint", "training_state.pt").is_file()
    assert admin.post(f"/api/v1/reward-runs/{run_id}/cancel/").json()["error"]["code"] == "run_finished"

    assert admin.post(f"/api/v1/runs/{run_id}/resume/").status_code == 202
    run = run_in(run_id, "succeeded", "failed")
    assert run.status == "succeeded", run.error
    assert "continues from its last checkpoint" in run.log and run.rewardrun.train_result["steps"] == 60
    assert list(RunMetric.objects.filter(run=run, phase="train").values_list("step", flat=True)) == list(range(1, 61))


def test_a_killed_worker_process_is_replaced_and_the_run_resumes_from_its_checkpoint(run_worker, trained_on):
    run_id = start_reward_run(trained_on, max_steps=12)
    victim = at_step(run_id, 4).worker_pid

    os.kill(victim, signal.SIGKILL)  # the pool process; Celery redelivers the task (acks_late, reject_on_worker_lost)

    run = run_in(run_id, "succeeded", "failed")
    assert run.status == "succeeded", run.error
    assert run.attempts == 2 and run.worker_pid != victim, run.log
    assert f"(pid {victim}) is gone; taking the run over" in run.log and "resuming from its last checkpoint" in run.log, run.log
    # The steps after the last checkpoint ran twice; the curve keeps one point per step.
    steps = list(RunMetric.objects.filter(run=run, phase="train").values_list("step", flat=True))
    assert steps == list(range(1, 13)), (steps, run.log)
    assert run.rewardrun.train_result["steps"] == 12


def test_a_run_whose_whole_worker_died_is_requeued_by_the_sweeper_and_resumes(run_worker, trained_on, settings):
    # A worker of its own on another queue, so that killing it leaves the module's worker alone.
    settings.RUN_QUEUE = "gpu-rewardlab-tests-lost"
    lost = start_worker(queues="gpu-rewardlab-tests-lost", concurrency=1,
                        extra_env={**world.WORKER_ENV, "RUN_QUEUE": "gpu-rewardlab-tests-lost"})
    try:
        run_id = start_reward_run(trained_on, max_steps=8)
        at_step(run_id, 3)
        os.killpg(lost.pid, signal.SIGKILL)  # the machine is gone: no redelivery until Redis's visibility timeout
        lost.wait()
    finally:
        stop_worker(lost)
    assert Run.objects.get(pk=run_id).status == "running"  # nobody is left to say otherwise

    settings.RUN_QUEUE = QUEUE  # the sweeper requeues it where a live worker listens
    assert wait_until(lambda: runs_sweep(stale_after=0.5)["requeued"], timeout=30) == [run_id]

    run = run_in(run_id, "succeeded", "failed")
    assert run.status == "succeeded", run.error
    assert run.attempts == 2 and "requeued to resume from its last checkpoint (attempt 2 of 3)" in run.log, run.log
    assert run.rewardrun.train_result["steps"] == 8
