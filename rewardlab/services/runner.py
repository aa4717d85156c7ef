"""Executes one run inside a worker process: claim it, beat, feed progress to the database, end it.

The ML code sees two callables and nothing of Django: ``progress(dict)`` after each step and
``should_stop()`` before the next. A heartbeat thread writes ``heartbeat_at`` and reads the cancel flag
every ``RUN_HEARTBEAT_SECONDS``; progress is written at most every ``RUN_PROGRESS_FLUSH_SECONDS``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import DatabaseError, close_old_connections, connection

from rewardlab import conf
from rewardlab.models import KIND_MODELS, Run
from rewardlab.services import runs
from rewardlab.services.runs import RunStopped

log = logging.getLogger(__name__)


class RunTracker:
    """Progress of one attempt at a run, in phases with weights (e.g. train 0.85, evaluate 0.15).

    The fraction shown never goes down: a phase whose ML code counts several passes from 1 (latents, then
    steps) holds its highest point until the count passes it. ``{"activity": "..."}`` from the ML code says what it
    is doing between counted steps (loading weights, encoding latents), and is shown before the first step."""

    def __init__(self, run: Run, *, on_progress: Callable[[RunTracker], None] | None = None):
        self.run_id, self.attempt = run.pk, run.attempts
        self.on_progress = on_progress
        self.stop_event = threading.Event()
        self.cancel_requested = False
        self.lost = False  # the run was taken from this worker (the sweeper gave it to another)
        self.weights: dict[str, float] = {}
        self.phase, self.step, self.total_steps, self.activity = "", 0, 0, ""
        self.stop_in_progress = False  # raise RunStopped from progress(): for ML code without should_stop
        self.last_values: dict = {}  # the latest metrics logged (for a terminal progress bar)
        self._points: list[dict] = []
        self._last_flush = 0.0
        self._start = (time.monotonic(), run.progress)
        self._highest = run.progress  # what has been shown; a resumed attempt starts where the last one got

    # --- phases ---------------------------------------------------------------------------------------------
    def plan(self, phases: list[tuple[str, float]]) -> None:
        total = sum(w for _, w in phases)
        self.weights = {name: w / total for name, w in phases}

    def begin(self, phase: str, *, total_steps: int = 0, stop_in_progress: bool = False) -> None:
        """Start a phase; ``stop_in_progress`` for ML code that takes no should_stop (it stops after a step)."""
        self.check_stop()
        self.flush()
        self.phase, self.step, self.total_steps, self.activity = phase, 0, total_steps, ""
        self.stop_in_progress = stop_in_progress
        runs.run_log(run_id=self.run_id, text=f"phase {phase} started")
        self.flush(force=True)

    @property
    def fraction(self) -> float:
        """How much of the whole run is done, never less than was shown before."""
        done = 0.0
        for name, weight in self.weights.items():
            if name == self.phase:
                done += weight * (min(self.step / self.total_steps, 1.0) if self.total_steps else 0.0)
                break
            done += weight
        self._highest = max(self._highest, done)
        return self._highest

    def eta_seconds(self) -> float | None:
        started, fraction_at_start = self._start
        gained = self.fraction - fraction_at_start
        if gained <= 0:
            return None
        return (time.monotonic() - started) * (1.0 - self.fraction) / gained

    # --- what the ML code calls -----------------------------------------------------------------------------
    def progress(self, values: dict) -> None:
        values = runs.json_safe(values)
        if "activity" in values:
            self.activity = str(values["activity"])
            if not any(k in values for k in runs.COUNTERS if k != "activity"):  # no new count: just say so
                self.flush(force=True)
                if self.on_progress:
                    self.on_progress(self)
                return
        self.step = int(values.get("step", values.get("done", self.step)) or 0)
        self.total_steps = int(values.get("total_steps", values.get("total", self.total_steps)) or 0)
        metrics = {k: v for k, v in values.items() if k not in runs.COUNTERS}
        if metrics:
            self.last_values = metrics
            self._points.append({"step": self.step, "values": metrics})
        self.flush(force=bool(self.total_steps) and self.step >= self.total_steps)
        if self.on_progress:
            self.on_progress(self)
        if self.stop_in_progress:
            self.check_stop()

    def should_stop(self) -> bool:
        return self.stop_event.is_set()

    def check_stop(self) -> None:
        """Between phases: stop here if asked to."""
        if self.should_stop():
            raise RunStopped()

    # --- the database -----------------------------------------------------------------------------------------
    def flush(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_flush < conf.progress_flush_seconds():
            return
        self._last_flush = now
        points, self._points = self._points, []
        try:
            ours = runs.run_progress(run_id=self.run_id, attempt=self.attempt, phase=self.phase, step=self.step,
                                     total_steps=self.total_steps, progress=self.fraction,
                                     eta_seconds=self.eta_seconds(), points=points, activity=self.activity)
        except DatabaseError:  # keep training through a database blip; the points go with the next write
            log.warning("run %s: progress not written (database unavailable); retrying", self.run_id, exc_info=True)
            self._points = points + self._points
            close_old_connections()
            return
        if not ours:
            self._lose()

    def _lose(self) -> None:
        if not self.lost:
            log.warning("run %s attempt %s: the run is no longer this worker's; stopping", self.run_id, self.attempt)
        self.lost = True
        self.stop_event.set()

    def _beat(self, done: threading.Event) -> None:
        last_ok = time.monotonic()
        try:
            while not done.wait(conf.heartbeat_seconds()):
                try:
                    ours, cancel = runs.run_heartbeat(run_id=self.run_id, attempt=self.attempt)
                except Exception:  # a database blip must not kill the heartbeat; the next beat retries
                    log.exception("run %s: heartbeat failed", self.run_id)
                    close_old_connections()
                    # Cut off from the database for half the sweeper's patience: stop before the sweeper gives
                    # the run to another worker, so two workers never train into one checkpoint folder.
                    if time.monotonic() - last_ok > conf.stale_after_seconds() / 2:
                        self._lose()
                    continue
                last_ok = time.monotonic()
                if not ours:
                    self._lose()
                elif cancel and not self.cancel_requested:
                    self.cancel_requested = True
                    self.stop_event.set()
        finally:
            connection.close()  # this thread's own connection

    @contextmanager
    def heartbeat(self) -> Iterator[None]:
        done = threading.Event()
        thread = threading.Thread(target=self._beat, args=(done,), name=f"heartbeat-run-{self.run_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()


def describe_device() -> str:
    import torch

    if conf.device() != "cpu" and torch.cuda.is_available():
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "all")
        return f"cuda x{torch.cuda.device_count()} ({torch.cuda.get_device_name(0)}; CUDA_VISIBLE_DEVICES={visible})"
    return f"cpu ({torch.get_num_threads()} threads)"


def execute_run(*, run_id: int, on_progress: Callable[[RunTracker], None] | None = None) -> Run | None:
    """Run ``run_id`` to its end in this process; None when another worker has it or it is already over."""
    from rewardlab.services.executors import EXECUTORS  # it imports this module (RunTracker)

    run = runs.run_claim(run_id=run_id, device=describe_device())
    if run is None:
        return None
    child = KIND_MODELS[run.kind].objects.get(pk=run.pk)
    tracker = RunTracker(run, on_progress=on_progress)
    with tracker.heartbeat():
        try:
            summary = EXECUTORS[run.kind](child, tracker)
            tracker.flush(force=True)
        except RunStopped:
            tracker.flush(force=True)
            _stopped(tracker)
        except Exception as exc:
            error = traceback.format_exc()
            log.exception("run %s failed", run_id)
            tracker.flush(force=True)
            runs.run_end(run_id=run_id, attempt=tracker.attempt, status=Run.Status.FAILED,
                         text=f"failed: {type(exc).__name__}: {exc}", error=error)
        else:
            runs.run_end(run_id=run_id, attempt=tracker.attempt, status=Run.Status.SUCCEEDED, text=f"succeeded: {summary}")
    return Run.objects.get(pk=run_id)


def _stopped(tracker: RunTracker) -> None:
    if tracker.lost:
        return  # the new owner writes the ending
    runs.run_end(run_id=tracker.run_id, attempt=tracker.attempt, status=Run.Status.CANCELLED,
                 text=f"cancelled at {tracker.phase} step {tracker.step} of {tracker.total_steps}; its checkpoint is kept")
