"""What running training as a database-tracked Celery task costs, and how fast the run machinery reacts.

Bookkeeping (in this process, no model): a loop of ``--steps`` fake training steps reports loss and per-dimension
accuracy through a RunTracker, with progress written every step and with the default throttle; then the progress
endpoint's selector reads a run of that many points (first page, and an incremental poll).

Worker (a real Celery worker process, a tiny Qwen2-VL reward model, ``--device``): the same 30-step training run
called directly and through the queue (its overhead is the difference), the time from queueing to running, the
latency of a cancel, and after SIGKILL of the worker's pool process, the time until the redelivered task has
taken the run over and the time to finish.

    .venv/bin/python bench/bench_runs.py                       # 2,000 bookkeeping steps, CPU worker
    .venv/bin/python bench/bench_runs.py --full-size           # 50,000 bookkeeping steps
    .venv/bin/python bench/bench_runs.py --device cuda         # the worker trains on the GPU

Database: ``vidpref_bench_runs`` on the local PostgreSQL (created if missing), or ``DATABASE_URL``; Redis from
``REDIS_URL`` (default db 15); runs go to the queue ``gpu-bench``.
"""

import argparse
import os
import signal
import statistics
import time
from pathlib import Path

from _django import django_bench

DATABASE = "vidpref_bench_runs"
QUEUE = "gpu-bench"
TRAIN = {"max_steps": 30, "batch_size": 2, "lr": 1e-3, "lora_r": 8, "lora_alpha": 16, "max_pixels": 56 * 112, "min_pixels": 56 * 112, "save_every": 5}


def wait_for(predicate):
    from tests.conftest import wait_until

    return wait_until(predicate, timeout=300, interval=0.02)  # polled often: the latencies are the figures


def bookkeeping(steps: int) -> None:
    from annotation.models import Project
    from rewardlab.models import Run
    from rewardlab.selectors import run_progress
    from rewardlab.services import runs
    from rewardlab.services.runner import RunTracker

    project = Project.objects.create(name="bench bookkeeping")
    print(f"bookkeeping: {steps} steps, each reporting loss, lr and accuracy for 4 dimensions")
    for flush in ("0", "1"):
        os.environ["RUN_PROGRESS_FLUSH_SECONDS"] = flush
        run = runs.run_claim(run_id=Run.objects.create(kind="reward_train", project=project).pk, device="cpu")
        tracker = RunTracker(run)
        tracker.plan([("train", 1.0)])
        tracker.begin("train")
        started = time.perf_counter()
        for step in range(1, steps + 1):
            tracker.progress({"step": step, "total_steps": steps, "loss": 1.0 / step, "lr": 1e-5,
                              "acc": {"vq": 0.5, "mq": 0.6, "ta": 0.7, "overall": 0.8}})
        tracker.flush(force=True)
        per_step = (time.perf_counter() - started) / steps * 1e6
        label = "every step" if flush == "0" else "at most once a second"
        print(f"  progress written {label:>22}: {per_step:8.1f} us per step")
    timings = {"first page": [], "incremental poll": []}
    for _ in range(20):
        started = time.perf_counter()
        first = run_progress(run=run)
        timings["first page"].append(time.perf_counter() - started)
        started = time.perf_counter()
        run_progress(run=run, after=first["metrics"][-1]["id"])
        timings["incremental poll"].append(time.perf_counter() - started)
    for name, values in timings.items():
        print(f"  progress endpoint {name:>16}: {statistics.median(values) * 1000:7.2f} ms (median of 20)")


def worker(device: str) -> None:
    from django.contrib.auth import get_user_model

    from rewardlab.ml.train_reward import RewardTrainConfig, train_reward
    from rewardlab.models import Run
    from rewardlab.services import datasets, runs, submit
    from tests.conftest import start_worker, stop_worker
    from tests.rewardlab import world

    os.environ["RUN_QUEUE"] = QUEUE
    admin, _ = get_user_model().objects.get_or_create(username="bench-admin", defaults={"is_staff": True})
    project = world.build_project(name="bench runs")
    version = world.export_version(project)
    base = world.tiny_reward_base()
    env = {**world.WORKER_ENV, "RUN_DEVICE": device}

    # Direct: the ML function alone, as the worker's pool process would run it (the second of two runs, warm).
    scratch = Path(os.environ["DATA_DIR"]) / "bench-direct"
    for attempt in ("cold", "warm"):
        config = RewardTrainConfig(base_model_path=str(base), train_file=str(datasets.check_trainable(version)),
                                   output_dir=str(scratch / attempt), dimensions=["vq", "mq"], device=device,
                                   video_root=str(datasets.video_root(version, scratch)), **TRAIN)
        steps = []
        train_reward(config, progress=lambda r: steps.append(time.perf_counter()))  # noqa: B023 (used at once)
    direct = (steps[-1] - steps[0]) / (len(steps) - 1)

    proc = start_worker(queues=QUEUE, concurrency=1, extra_env=env)
    try:
        def start(**settings) -> tuple[int, float]:
            queued = time.perf_counter()
            run = submit.reward_run_create(created_by=admin, dataset_version=version, base_model_path=str(base),
                                           dimensions=["vq", "mq"], hyperparameters={**TRAIN, **settings})
            return run.pk, queued

        run_id, queued = start()
        wait_for(lambda: Run.objects.filter(pk=run_id, status="running").exists())
        to_running = time.perf_counter() - queued
        first = wait_for(lambda: Run.objects.filter(pk=run_id, step__gte=2).first())
        t0, s0 = time.perf_counter(), first.step
        last = wait_for(lambda: Run.objects.filter(pk=run_id, step__gte=TRAIN["max_steps"]).first())
        queued_step = (time.perf_counter() - t0) / (last.step - s0)
        wait_for(lambda: Run.objects.filter(pk=run_id, status="succeeded").exists())

        run_id, _ = start(max_steps=100_000)
        wait_for(lambda: Run.objects.filter(pk=run_id, step__gte=3).exists())
        asked = time.perf_counter()
        runs.run_cancel(run=Run.objects.get(pk=run_id))
        wait_for(lambda: Run.objects.filter(pk=run_id, status="cancelled").exists())
        cancel = time.perf_counter() - asked

        run_id, _ = start(max_steps=60)
        victim = wait_for(lambda: Run.objects.filter(pk=run_id, step__gte=10).first()).worker_pid
        killed = time.perf_counter()
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: Run.objects.filter(pk=run_id, status="running", attempts=2).exists())
        takeover = time.perf_counter() - killed
        wait_for(lambda: Run.objects.filter(pk=run_id, status="succeeded").exists())
        finished = time.perf_counter() - killed
    finally:
        stop_worker(proc)

    print(f"worker ({device}, tiny Qwen2-VL, {TRAIN['max_steps']} steps of 2 pairs, heartbeat {env['RUN_HEARTBEAT_SECONDS']} s):")
    print(f"  seconds per step, train_reward called directly: {direct:7.3f}")
    print(f"  seconds per step, as a queued run:              {queued_step:7.3f}  ({(queued_step / direct - 1) * 100:+.1f} %)")
    print(f"  queued -> running (idle worker, ML imports):    {to_running:7.2f} s")
    print(f"  cancel requested -> cancelled (checkpoint saved): {cancel:5.2f} s")
    print(f"  pool process SIGKILLed -> run taken over:       {takeover:7.2f} s  (new process, redelivery, claim)")
    print(f"  SIGKILL -> run finished (resumed from step 10):   {finished:5.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda: where the worker trains")
    parser.add_argument("--full-size", action="store_true", help="50,000 bookkeeping steps instead of 2,000")
    parser.add_argument("--steps", type=int, help="bookkeeping steps (overrides --full-size)")
    parser.add_argument("--skip-worker", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
    django_bench(DATABASE)
    import torch

    torch.set_num_threads(1)
    bookkeeping(args.steps or (50_000 if args.full_size else 2_000))
    if not args.skip_worker:
        worker(args.device)


if __name__ == "__main__":
    main()
