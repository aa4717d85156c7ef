"""Work left behind by a dead worker: videos being processed, import jobs and their chunks, dataset versions.

Invariants (``WorkerHeld`` fields on each row):
- ``heartbeat_at`` is set when a task claims the row and refreshed while it works; it is empty while no worker
  holds the row (queued, or finished). A row waiting in a long queue is never taken for abandoned.
- A task works on a row only after claiming it, and claims only a row nobody holds (no heartbeat, or one
  older than ``JOB_STALE_AFTER_SECONDS``): a second delivery of the same task never runs beside the first.
- The sweeper takes a row that is still pending/queued/running with a stale heartbeat: it clears the
  heartbeat and sends the task again, at most ``JOB_MAX_REQUEUES`` times; after that the row fails with a
  reason. A killed worker's own message stays unacknowledged in Redis until the broker's visibility timeout
  (hours); when it comes back the row is finished, or held, and the delivery does nothing.
"""

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone

from annotation.models import DatasetVersion, ImportChunk, ImportJob, JobStatus, Video

log = logging.getLogger(__name__)


def _stale_cutoff(stale_after: float | None = None):
    return timezone.now() - timedelta(seconds=settings.JOB_STALE_AFTER_SECONDS if stale_after is None else stale_after)


def job_claim(model: type[models.Model], pk: int) -> bool:
    """Take the row for this task; False when a live worker holds it (then this delivery does nothing)."""
    free = Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=_stale_cutoff())
    return model.objects.filter(free, pk=pk).update(heartbeat_at=timezone.now()) == 1


def job_heartbeat(model: type[models.Model], pk: int) -> None:
    model.objects.filter(pk=pk).update(heartbeat_at=timezone.now())


def job_release(model: type[models.Model], pk: int) -> None:
    """The task is done with the row (finished, or handing over to its continuation)."""
    model.objects.filter(pk=pk).update(heartbeat_at=None)


@dataclass(frozen=True)
class _Kind:
    name: str
    model: type[models.Model]
    active: Q  # not finished
    fail: Callable[[models.Model, str], None]
    enqueue: Callable[[int], None]


def _fail_video(video: Video, reason: str) -> None:
    Video.objects.filter(pk=video.pk).update(status=Video.Status.FAILED, error=reason, heartbeat_at=None,
                                             updated_at=timezone.now())


def _fail_job(row: ImportJob | DatasetVersion, reason: str) -> None:
    type(row).objects.filter(pk=row.pk).update(status=JobStatus.FAILED, error=reason, heartbeat_at=None,
                                               finished_at=timezone.now())


def _send_video(pk: int) -> None:
    from workers.media import process_video_task  # workers import the services, not the other way round

    process_video_task.delay(pk)


def _send_import(pk: int) -> None:
    from workers.media import run_import_task

    run_import_task.delay(pk)


def _fail_chunk(chunk: ImportChunk, reason: str) -> None:
    _fail_job(chunk.job, f"Rows {chunk.next_row}-{chunk.first_row + len(json.loads(chunk.rows)) - 1}: {reason}")


def _send_chunk(pk: int) -> None:
    from workers.media import run_import_chunk_task

    run_import_chunk_task.delay(pk)


def _send_export(pk: int) -> None:
    from workers.exports import export_dataset_version

    export_dataset_version.delay(pk)


_ACTIVE_JOB = Q(status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
KINDS = (
    _Kind("videos", Video, Q(status=Video.Status.PENDING), _fail_video, _send_video),
    _Kind("imports", ImportJob, _ACTIVE_JOB, _fail_job, _send_import),
    _Kind("import_chunks", ImportChunk, Q(finished_at__isnull=True, job__status=JobStatus.RUNNING), _fail_chunk,
          _send_chunk),
    _Kind("dataset_versions", DatasetVersion, _ACTIVE_JOB, _fail_job, _send_export),
)


@transaction.atomic
def stale_jobs_sweep(*, stale_after: float | None = None) -> dict[str, dict[str, list[int]]]:
    """Requeue (or, out of requeues, fail) every row a dead worker left; returns the ids per kind and outcome.

    Safe to run anywhere, any number of times at once: rows are locked with SKIP LOCKED.
    """
    cutoff, limit = _stale_cutoff(stale_after), settings.JOB_MAX_REQUEUES
    swept: dict[str, dict[str, list[int]]] = {}
    for kind in KINDS:
        rows = (kind.model.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(kind.active, heartbeat_at__lt=cutoff).order_by("pk"))
        requeued, failed = [], []
        for row in rows:
            since = f"{row.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC"
            if row.requeues >= limit:
                kind.fail(row, f"Its worker stopped (no sign of life since {since}) {row.requeues + 1} times; "
                               "it is not retried again. Check the media workers' logs, then start it anew.")
                failed.append(row.pk)
                continue
            kind.model.objects.filter(pk=row.pk).update(heartbeat_at=None, requeues=F("requeues") + 1)
            transaction.on_commit(lambda kind=kind, pk=row.pk: kind.enqueue(pk))
            requeued.append(row.pk)
        if requeued or failed:
            swept[kind.name] = {"requeued": requeued, "failed": failed}
    if swept:
        log.warning("stale job sweeper (no heartbeat for %s s): %s", settings.JOB_STALE_AFTER_SECONDS, swept)
    return swept
