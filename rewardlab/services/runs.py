"""A run's lifecycle: enqueue, claim by a worker, progress, heartbeat, finish, cancel, and the sweeper.

Every write a worker makes is conditioned on ``status="running"`` and on its own attempt number, so a worker
that lost its run (the sweeper gave it to another worker while this one was partitioned from the database)
can neither overwrite the new owner's progress nor mark the run finished; it learns it lost the run and stops.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import uuid
from datetime import timedelta
from pathlib import Path

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat, Right
from django.utils import timezone

from config.errors import Conflict
from rewardlab import conf
from rewardlab.models import Run, RunMetric

log = logging.getLogger(__name__)

LOG_LIMIT = 200_000  # characters of log kept on the row; the start is dropped first
COUNTERS = ("step", "total_steps", "done", "total", "activity")  # progress fields that are not metrics


def json_safe(value):
    """Metric values as JSON: tensors and numpy scalars become floats, NaN and inf become None."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, bool | str) or value is None:
        return value
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else None


class RunStopped(Exception):
    """The run stops early: cancelled, or no longer this worker's (the sweeper gave it to another)."""


def _line(text: str) -> str:
    return f"[{timezone.now():%Y-%m-%d %H:%M:%S}] {text}\n"


def run_log(*, run_id: int, text: str) -> None:
    """Append a line to the run's log (atomic in the database, so the worker and the sweeper never lose one)."""
    Run.objects.filter(pk=run_id).update(log=Right(Concat(F("log"), Value(_line(text))), LOG_LIMIT))


def run_queue_of(run: Run) -> str:
    """``gpu`` for one-GPU runs; ``gpu-multi`` for runs with ``processes`` > 1, which need a worker that sees
    several GPUs (workers on ``gpu`` are pinned to one each)."""
    return conf.run_queue() + ("-multi" if int(run.config.get("processes", 1)) > 1 else "")


def _enqueue(run: Run) -> None:
    """Send the run's task once the transaction commits (the worker must find the row)."""
    # Imported here: workers.runs imports the services, not the other way round at import time.
    from workers.runs import execute_run

    queue = run_queue_of(run)
    Run.objects.filter(pk=run.pk).update(queued_at=timezone.now())
    transaction.on_commit(lambda: execute_run.apply_async(args=[run.pk], task_id=run.task_id, queue=queue))


def run_submit(run: Run, *, enqueue: bool = True) -> Run:
    """Give a just-created run its output folder and task id, and queue it once the transaction commits."""
    run.output_dir = str(conf.runs_root() / f"{run.kind}-{run.pk}")
    run.task_id = str(uuid.uuid4())
    run.max_attempts = conf.max_attempts()
    run.save(update_fields=["output_dir", "task_id", "max_attempts"])
    if enqueue:
        run_log(run_id=run.pk, text=f"queued on the {run_queue_of(run)} queue (task {run.task_id})")
        _enqueue(run)
    else:
        run_log(run_id=run.pk, text="created to run in the process that asked for it")
    return run


@transaction.atomic
def run_cancel(*, run: Run) -> Run:
    """A queued run is cancelled at once; a running one stops at its next step, saves, and ends cancelled."""
    run = Run.objects.select_for_update().get(pk=run.pk)
    if run.is_terminal:
        raise Conflict(f"Run {run.pk} already ended ({run.status}); there is nothing to cancel.", code="run_finished")
    if run.status == Run.Status.QUEUED:
        run.status = Run.Status.CANCELLED
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "finished_at"])
        run_log(run_id=run.pk, text="cancelled before it started")
    elif not run.cancel_requested:
        run.cancel_requested = True
        run.save(update_fields=["cancel_requested"])
        run_log(run_id=run.pk, text="cancel requested; the worker stops at its next step and saves a checkpoint")
    run.refresh_from_db()
    return run


@transaction.atomic
def run_resume(*, run: Run) -> Run:
    """Queue a cancelled or failed run again; it continues from its last checkpoint with a fresh set of attempts."""
    run = Run.objects.select_for_update().get(pk=run.pk)
    if run.status not in (Run.Status.CANCELLED, Run.Status.FAILED):
        raise Conflict(f"Run {run.pk} is {run.status}; only a cancelled or failed run can be resumed.", code="not_resumable")
    run.status, run.cancel_requested, run.attempts, run.error, run.finished_at = Run.Status.QUEUED, False, 0, "", None
    run.task_id = str(uuid.uuid4())
    run.save(update_fields=["status", "cancel_requested", "attempts", "error", "finished_at", "task_id"])
    run_log(run_id=run.pk, text=f"resumed: queued on the {run_queue_of(run)} queue; it continues from its last checkpoint")
    _enqueue(run)
    return run


# --- the worker side ----------------------------------------------------------------------------------------------

def this_worker() -> tuple[str, int]:
    return socket.gethostname(), os.getpid()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process its parent has not reaped yet is a zombie: dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _owner_is_gone(run: Run, *, host: str) -> bool:
    """The worker that holds this running run is dead: no recent heartbeat, or its process on this host is gone.

    The second test lets a task that Celery redelivers after its pool process was killed (acks_late +
    reject_on_worker_lost) take the run over at once, instead of waiting for the sweeper.
    """
    if run.heartbeat_at is None or run.heartbeat_at < timezone.now() - timedelta(seconds=conf.stale_after_seconds()):
        return True
    return run.worker_host == host and run.worker_pid is not None and run.worker_pid != os.getpid() and not _pid_alive(run.worker_pid)


@transaction.atomic
def run_claim(*, run_id: int, device: str) -> Run | None:
    """Take a queued run (or one whose worker died) for this process; None when there is nothing to do.

    Celery may deliver a task twice (acks_late redelivery, the sweeper requeueing); the row lock makes
    exactly one delivery win, and a delivery for a run that is live elsewhere or already over is dropped.
    """
    host, pid = this_worker()
    run = Run.objects.select_for_update().filter(pk=run_id).first()
    if run is None or run.is_terminal:
        return None
    if run.status == Run.Status.RUNNING:
        if not _owner_is_gone(run, host=host):
            return None
        run_log(run_id=run.pk, text=f"worker {run.worker_host} (pid {run.worker_pid}) is gone; taking the run over")
    if run.cancel_requested:
        _finish(run, status=Run.Status.CANCELLED, text="cancelled while its worker was lost")
        return None
    if run.attempts >= run.max_attempts:
        _finish(run, status=Run.Status.FAILED, text=f"gave up after {run.attempts} attempts",
                error=f"The run lost its worker {run.attempts} times (the last time on {run.worker_host}, pid "
                      f"{run.worker_pid}). Look at the worker's logs (out of memory? a killed machine?), then start a new run.")
        return None
    now = timezone.now()
    run.status = Run.Status.RUNNING
    run.attempts += 1
    run.worker_host, run.worker_pid, run.device = host, pid, device[:200]
    run.heartbeat_at = now
    run.started_at = run.started_at or now
    run.eta_seconds = None
    run.save(update_fields=["status", "attempts", "worker_host", "worker_pid", "device", "heartbeat_at", "started_at", "eta_seconds"])
    resumed = " (resuming from its last checkpoint)" if run.attempts > 1 else ""
    run_log(run_id=run.pk, text=f"attempt {run.attempts} of {run.max_attempts} started on {host} (pid {pid}, {device}){resumed}")
    return run


def _mine(run_id: int, attempt: int):
    return Run.objects.filter(pk=run_id, status=Run.Status.RUNNING, attempts=attempt)


def run_heartbeat(*, run_id: int, attempt: int) -> tuple[bool, bool]:
    """Write the heartbeat; returns (still ours, cancel requested)."""
    mine = _mine(run_id, attempt)
    if not mine.update(heartbeat_at=timezone.now()):
        return False, False
    return True, bool(Run.objects.filter(pk=run_id).values_list("cancel_requested", flat=True).first())


@transaction.atomic
def run_progress(*, run_id: int, attempt: int, phase: str, step: int, total_steps: int, progress: float,
                 eta_seconds: float | None, points: list[dict], activity: str = "") -> bool:
    """Record progress and the metric points logged since the last call; False when the run is no longer ours.

    A resumed run replays the steps after its last checkpoint: their old points are replaced, so the
    curves stay one line.
    """
    now = timezone.now()
    updated = _mine(run_id, attempt).update(
        phase=phase, activity=activity[:120], step=step, total_steps=total_steps, progress=min(max(progress, 0.0), 1.0),
        eta_seconds=eta_seconds,
        last_metrics=points[-1]["values"] if points else F("last_metrics"), heartbeat_at=now,
    )
    if not updated:
        return False
    if points:
        RunMetric.objects.filter(run_id=run_id, phase=phase, step__gte=points[0]["step"]).delete()
        RunMetric.objects.bulk_create(RunMetric(run_id=run_id, phase=phase, step=p["step"], values=p["values"]) for p in points)
    return True


@transaction.atomic
def run_metrics_replace(*, run_id: int, phase: str, history: list[dict]) -> None:
    """A phase's complete curve from the ML code's own history (it spans resumes), replacing the points logged
    live, which miss the steps between the last write and a lost worker's last checkpoint."""
    RunMetric.objects.filter(run_id=run_id, phase=phase).delete()
    RunMetric.objects.bulk_create(
        RunMetric(run_id=run_id, phase=phase, step=int(record["step"]),
                  values=json_safe({k: v for k, v in record.items() if k not in COUNTERS}))
        for record in history)


def _finish(run: Run, *, status: str, text: str, error: str = "") -> None:
    run.status = status
    run.finished_at = timezone.now()
    run.error = error
    fields = ["status", "finished_at", "error"]
    if status == Run.Status.SUCCEEDED:
        run.progress, run.eta_seconds = 1.0, 0.0
        fields += ["progress", "eta_seconds"]
    run.save(update_fields=fields)
    run_log(run_id=run.pk, text=text)


@transaction.atomic
def run_end(*, run_id: int, attempt: int, status: str, text: str, error: str = "") -> bool:
    """The worker's last word on a run it holds: succeeded, failed (with the traceback) or cancelled."""
    run = _mine(run_id, attempt).select_for_update().first()
    if run is None:
        log.warning("run %s attempt %s ended as %s, but the run is no longer this worker's", run_id, attempt, status)
        return False
    _finish(run, status=status, text=text, error=error)
    return True


# --- the sweeper --------------------------------------------------------------------------------------------------

@transaction.atomic
def runs_sweep(*, stale_after: float | None = None) -> dict[str, list[int]]:
    """Runs whose worker stopped sending heartbeats go back to the queue (to resume) or, out of attempts, fail;
    queued runs no worker has taken for ``RUN_RESEND_AFTER_SECONDS`` have their task sent again.

    Safe to run anywhere, any number of times at once: rows are locked with SKIP LOCKED.
    """
    stale_after = conf.stale_after_seconds() if stale_after is None else stale_after
    cutoff = timezone.now() - timedelta(seconds=stale_after)
    stale = (Run.objects.select_for_update(skip_locked=True)
             .filter(status=Run.Status.RUNNING, heartbeat_at__lt=cutoff).order_by("pk"))
    swept: dict[str, list[int]] = {"requeued": [], "failed": [], "cancelled": [], "resent": []}
    for run in stale:
        last = f"no heartbeat from {run.worker_host} (pid {run.worker_pid}) since {run.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC"
        if run.cancel_requested:
            _finish(run, status=Run.Status.CANCELLED, text=f"{last}; it was being cancelled, so it ends cancelled")
            swept["cancelled"].append(run.pk)
        elif run.attempts < run.max_attempts:
            run.status = Run.Status.QUEUED
            run.task_id = str(uuid.uuid4())
            run.eta_seconds = None
            run.save(update_fields=["status", "task_id", "eta_seconds"])
            run_log(run_id=run.pk, text=f"{last}; requeued to resume from its last checkpoint "
                                        f"(attempt {run.attempts + 1} of {run.max_attempts})")
            _enqueue(run)
            swept["requeued"].append(run.pk)
        else:
            _finish(run, status=Run.Status.FAILED, text=f"{last}; out of attempts",
                    error=f"The worker stopped responding ({last}) and the run had used all {run.max_attempts} "
                          "attempts. Check the worker's logs and the machine, then start a new run.")
            swept["failed"].append(run.pk)
    unclaimed = (Run.objects.select_for_update(skip_locked=True).filter(
        status=Run.Status.QUEUED, queued_at__lt=timezone.now() - timedelta(seconds=conf.resend_after_seconds())))
    for run in unclaimed.order_by("pk"):
        run_log(run_id=run.pk, text=f"no worker has taken it since {run.queued_at:%Y-%m-%d %H:%M:%S} UTC; its task is sent again "
                                    "(if the first is still queued, the later delivery is dropped)")
        _enqueue(run)
        swept["resent"].append(run.pk)
    if any(swept.values()):
        log.warning("run sweeper: %s", swept)
    return swept
