"""Imports as jobs: manifests (JSONL or CSV), folders, and RewardBench / VideoAlign CSVs.

A job reads its manifest once and splits the rows into chunks, one task each on the ``media`` queue, so every
media worker on every machine shares the job. A row is all or nothing: a row that fails writes nothing (no video
without its pair, no pair without its judgment), its reason is recorded on the job, and the other rows go on.
A chunk counts its rows in the transaction that writes them, moving its ``next_row`` there too, so a chunk
stopped anywhere resumes at its first row not yet counted and the job's counters stay exact. Manifest rows go
in batches: each file is read once (hashed while it is copied) and a batch's rows are written with bulk inserts;
with ``in_place`` nothing is copied and the media tasks hash and probe the files where they are.

Reading the manifest and resolving the paths it names (inside IMPORT_ROOT only) is annotation/manifests.py's.
A value ``storage:<key>`` names a file already in the media storage (a bucket key, say): admins and the CLI may name
any key; a manager only the original of a video in a project they manage, so no one copies in another
project's videos by guessing their content address.
"""

import json
import logging
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from annotation import storage
from annotation.manifests import Manifest, import_root, label_columns, manifest_read, resolve_import_path
from annotation.models import ImportChunk, ImportJob, Judgment, Pair, Project, Video
from annotation.services.ingest import check_upload_size, prompt_get_or_create, video_ingest
from annotation.services.video_batch import Incoming, incoming_copy, incoming_in_place, videos_register
from config.errors import Conflict, InvalidInput, ServiceError

logger = logging.getLogger(__name__)

LABELS = {"a": "A", "b": "B", "same": "tie", "tie": "tie"}
SWAP = {"A": "B", "B": "A", "tie": "tie"}
UNKNOWN_MODEL = "unknown"  # VideoAlign's own CSVs have no A_model/B_model columns
STORAGE_PREFIX = "storage:"
UPLOAD_PREFIX = "upload:"
MAX_ERRORS_KEPT = 1000  # failed_rows counts them all; the job row keeps the first ones
CHUNK_ROWS = 500  # rows per media task: a job spreads over every media worker, and a lost task redoes little
BATCH_ROWS = 250  # manifest rows per transaction within a chunk


@contextmanager
def _job_manifest_path(job: ImportJob) -> Iterator[tuple[Path, Path | None]]:
    """The manifest to read and the folder its paths start from (None: next to the manifest)."""
    if job.source.startswith(UPLOAD_PREFIX):
        with storage.local_file(job.source.removeprefix(UPLOAD_PREFIX)) as path:
            yield path, import_root()  # an uploaded manifest has no folder of its own under the root
    else:
        yield resolve_import_path(job.source), None


# --- creating and running jobs -------------------------------------------------------------------------


def _enqueue(job: ImportJob) -> None:
    # Imported here: workers.media imports the services, not the other way round at import time.
    from workers.media import run_import_task

    transaction.on_commit(lambda: run_import_task.delay(job.pk))


@transaction.atomic
def _refuse_repeated_votes(*, project: Project, kind: str, path: Path) -> str:
    """A RewardBench file carries votes: importing it twice would count every vote twice."""
    if not path.is_file():  # a folder of model subfolders: videos dedupe by content anyway
        return ""
    digest = storage.sha256_file(path)
    if kind == ImportJob.Kind.REWARDBENCH:
        earlier = (ImportJob.objects.filter(project=project, kind=kind, source_sha256=digest)
                   .exclude(status=ImportJob.Status.FAILED).first())
        if earlier is not None:
            raise Conflict(f"This file was already imported as job {earlier.pk}; importing it again would count "
                           "its votes twice.", code="already_imported")
    return digest


def import_job_create(
    *,
    project: Project,
    created_by: AbstractBaseUser | None,
    manifest: str = "",
    upload_path: Path | None = None,
    upload_name: str = "",
    kind: str | None = None,
    in_place: bool = False,
    enqueue: bool = True,
) -> ImportJob:
    """Check a manifest (a path under IMPORT_ROOT, or an uploaded file) and queue its import.

    Unreadable files and missing columns fail here, before a job exists. ``in_place``: register the files where
    they are (a storage key, or a path under the import root) instead of copying them. ``enqueue=False``: the
    caller runs the job itself (the CLI).
    """
    if kind is not None and kind not in ImportJob.Kind.values:
        raise InvalidInput(f"kind must be one of {', '.join(ImportJob.Kind.values)}.", fields={"kind": ["invalid"]})
    if bool(manifest) == (upload_path is not None):
        raise InvalidInput("Give either a manifest path under the import root or a manifest file, not both.",
                           fields={"manifest": ["give a path or a file"]})
    if upload_path is not None:
        check_upload_size(upload_path.stat().st_size)
        name = Path(upload_name or upload_path.name).name
        checked = manifest_read(path=upload_path, project=project, kind=kind, base=import_root(), name=name)
        digest = _refuse_repeated_votes(project=project, kind=checked.kind, path=upload_path)
        key = f"imports/{uuid.uuid4().hex}/manifest{Path(name).suffix.lower()}"
        storage.put_file(upload_path, key)
        source = UPLOAD_PREFIX + key
    else:
        path = resolve_import_path(manifest)
        checked = manifest_read(path=path, project=project, kind=kind)
        digest = _refuse_repeated_votes(project=project, kind=checked.kind, path=path)
        source = str(path.relative_to(import_root()))
        if len(source) > ImportJob._meta.get_field("source").max_length:
            raise InvalidInput("The manifest path is too long (500 characters at most).")
    if in_place and checked.kind == ImportJob.Kind.REWARDBENCH:
        raise InvalidInput("in_place registers manifest rows; a RewardBench CSV's videos are copied in.",
                           fields={"in_place": ["only for manifest imports"]})
    job = ImportJob.objects.create(project=project, kind=checked.kind, source=source, source_sha256=digest,
                                   created_by=created_by, total_rows=len(checked.rows), in_place=in_place)
    if enqueue:
        _enqueue(job)
    return job


@dataclass
class _RowContext:
    project: Project
    manifest: Manifest
    labels: dict[str, str]  # RewardBench column → dimension key
    rng: random.Random
    requester: AbstractBaseUser | None  # None: the CLI, an operator on the machine
    in_place: bool = False


_FINAL = (ImportJob.Status.SUCCEEDED, ImportJob.Status.FAILED)


def import_job_plan(*, job: ImportJob) -> list[int]:
    """Read the manifest once and split its rows into chunks; the ids of the chunks still to run.

    Planning again (a redelivered task) makes no new chunks: it returns the unfinished ones.
    """
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().select_related("project").get(pk=job.pk)
        if job.status in _FINAL:
            return []
        if job.chunks.exists():
            return list(job.chunks.filter(finished_at__isnull=True).order_by("first_row").values_list("pk", flat=True))
        try:
            with _job_manifest_path(job) as (path, base):
                manifest = manifest_read(path=path, project=job.project, kind=job.kind, base=base)
        except ServiceError as exc:  # the manifest itself went bad (moved, edited) after the job was made
            _finish(job, error=exc.message)
            return []
        context = {"base": str(manifest.base.relative_to(import_root())), "source": manifest.source,
                   "columns": manifest.columns}
        start = job.done_rows + job.failed_rows  # rows a job from before chunks had counted already
        chunks = ImportChunk.objects.bulk_create([
            ImportChunk(job=job, first_row=first + 1, next_row=first + 1, context=context,
                        rows=json.dumps(manifest.rows[first:first + CHUNK_ROWS]))
            for first in range(start, len(manifest.rows), CHUNK_ROWS)
        ])
        job.status, job.total_rows = ImportJob.Status.RUNNING, len(manifest.rows)
        job.save(update_fields=["status", "total_rows"])
        if not chunks:
            _finish(job, error="")
        return [chunk.pk for chunk in chunks]


def import_job_run(*, job: ImportJob, max_seconds: float | None = None) -> bool:
    """Plan the job and run its chunks here, one after another (the CLI); True when it is finished, False when
    ``max_seconds`` ran out first."""
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    import_job_plan(job=job)
    chunks = (ImportChunk.objects.filter(job_id=job.pk, finished_at__isnull=True)
              .select_related("job__project", "job__created_by").order_by("first_row"))
    return all(import_chunk_run(chunk=chunk, deadline=deadline) for chunk in chunks)


def import_chunk_run(*, chunk: ImportChunk, deadline: float | None = None) -> bool:
    """Import the chunk's rows from ``next_row`` on; True when the chunk is done (False: ``deadline`` came first).

    Manifest rows go in batches (files copied and hashed one by one, rows written in one transaction per
    batch); RewardBench rows, which carry pairs and votes, one transaction each. The chunk that finishes last
    finishes the job.
    """
    job = chunk.job
    if chunk.finished_at is not None or job.status in _FINAL:
        return True
    manifest = Manifest(kind=job.kind, source=chunk.context["source"], base=import_root() / chunk.context["base"],
                        rows=json.loads(chunk.rows), columns=chunk.context["columns"])
    context = _RowContext(project=job.project, manifest=manifest, rng=random.Random(), requester=job.created_by,
                          labels=label_columns(manifest.columns, project=job.project), in_place=job.in_place)
    end = chunk.first_row + len(manifest.rows)
    try:
        while chunk.next_row < end:
            if deadline is not None and time.monotonic() > deadline:
                return False
            numbers = range(chunk.next_row, min(end, chunk.next_row + BATCH_ROWS))
            if job.kind == ImportJob.Kind.REWARDBENCH:
                for number in numbers:
                    _run_row(chunk, context, number)
            else:
                _run_batch(chunk, context, numbers)
    except Exception as exc:
        _finish(job, error=f"The import stopped at row {chunk.next_row}: {type(exc).__name__}: {exc}. "
                           "Start a new import for the remaining rows.")
        raise
    _chunk_done(chunk)
    return True


def _count(chunk: ImportChunk, *, next_row: int, done: int = 0, failed: list[dict] | None = None) -> None:
    """Move the chunk on and add to the job's counters, in the caller's transaction and as its last write.

    Every row is counted once, in the transaction that writes it, with increments (not values read before), so the
    counters stay exact however many chunks run at once; the job's row lock is held only to the commit.
    """
    ImportChunk.objects.filter(pk=chunk.pk).update(next_row=next_row)
    counters = {"done_rows": F("done_rows") + done}
    if failed:
        kept = ImportJob.objects.select_for_update().values_list("errors", flat=True).get(pk=chunk.job_id)
        counters["failed_rows"] = F("failed_rows") + len(failed)
        counters["errors"] = sorted(kept + failed[:max(0, MAX_ERRORS_KEPT - len(kept))], key=lambda e: e["row"])
    ImportJob.objects.filter(pk=chunk.job_id).update(**counters)
    chunk.next_row = next_row


def _chunk_done(chunk: ImportChunk) -> None:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=chunk.job_id)  # chunks finishing at once take turns
        ImportChunk.objects.filter(pk=chunk.pk).update(finished_at=timezone.now())
        if job.status not in _FINAL and not job.chunks.filter(finished_at__isnull=True).exists():
            _finish(job, error="" if job.done_rows or not job.failed_rows
                    else f"All {job.failed_rows} rows failed; see errors.")


def _row_failure(number: int, exc: Exception) -> dict:
    if isinstance(exc, ServiceError):
        reason = exc.message
    elif isinstance(exc, DatabaseError):
        reason = f"The database refused the row: {exc}".strip()
    elif isinstance(exc, OSError):
        reason = f"The file cannot be read: {exc.strerror or exc}."
    else:  # one odd row must not stop a job of thousands
        logger.error("import row %s failed", number, exc_info=exc)
        reason = f"Unexpected error ({type(exc).__name__}: {exc})."
    return {"row": number, "error": reason}


def _run_row(chunk: ImportChunk, context: _RowContext, number: int) -> None:
    row = context.manifest.rows[number - chunk.first_row]
    try:
        with transaction.atomic():
            if isinstance(row, str):
                raise InvalidInput(row)
            _rewardbench_row(context, row)
            _count(chunk, next_row=number + 1, done=1)
        return
    except (OperationalError, InterfaceError):  # the database is gone: stop rather than fail every row
        raise
    except Exception as exc:
        failure = _row_failure(number, exc)
    with transaction.atomic():
        _count(chunk, next_row=number + 1, failed=[failure])


def _run_batch(chunk: ImportChunk, context: _RowContext, numbers: range) -> None:
    """Rows ``numbers`` in one transaction; if the database refuses one of them, each in its own."""
    rows = [context.manifest.rows[number - chunk.first_row] for number in numbers]
    keys = [row["video"].removeprefix(STORAGE_PREFIX) for row in rows
            if isinstance(row, dict) and str(row.get("video", "")).startswith(STORAGE_PREFIX)]
    refused = _keys_refused(context.requester, keys)
    items, failed = [], []
    for number, row in zip(numbers, rows, strict=True):
        try:
            items.append(_incoming(context, row, refused=refused))
        except (OperationalError, InterfaceError):
            raise
        except Exception as exc:
            failed.append(_row_failure(number, exc))
    try:
        with transaction.atomic():
            videos_register(project=context.project, items=items, source=context.manifest.source)
            _count(chunk, next_row=numbers.stop, done=len(items), failed=failed)
    except (OperationalError, InterfaceError):
        raise
    except (DatabaseError, ValueError) as exc:  # ValueError: the driver refuses a value (a NUL in a string)
        if len(numbers) > 1:
            for number in numbers:
                _run_batch(chunk, context, range(number, number + 1))
            return
        with transaction.atomic():
            _count(chunk, next_row=numbers.stop, failed=[{"row": numbers[0], "error": f"The database refused the row: {exc}"}])


def _finish(job: ImportJob, *, error: str) -> None:
    job.status = ImportJob.Status.FAILED if error else ImportJob.Status.SUCCEEDED
    job.error = error
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error", "finished_at"])


# --- one row -----------------------------------------------------------------------------------------


def _text(row: dict, name: str) -> str:
    value = row.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"'{name}' is missing or empty.")
    return value.strip()


def _seed(value) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise InvalidInput(f"seed must be a whole number, not {value!r}.")


def _meta(value) -> dict | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise InvalidInput("meta must be a JSON object.") from None
    if not isinstance(value, dict):
        raise InvalidInput("meta must be a JSON object.")
    return value


def _keys_refused(user: AbstractBaseUser | None, keys: list[str]) -> set[str]:
    """The storage keys ``user`` may not import: all but the originals of videos in projects they manage."""
    if user is None or user.is_staff or not keys:
        return set()
    managed = Video.objects.filter(original__in=keys, project__memberships__user=user,
                                   project__memberships__role="manager").values_list("original", flat=True)
    return set(keys) - set(managed)


def _storage_key(value: str, *, refused: set[str]) -> str:
    key = storage.check_key(value.removeprefix(STORAGE_PREFIX))
    if key in refused:
        raise InvalidInput(f"Storage key {key!r} is not a video of a project you manage; import the file by its "
                           "path under the import root, or ask an admin.")
    return key


@contextmanager
def _video_file(context: _RowContext, value: str) -> Iterator[Path]:
    if value.startswith(STORAGE_PREFIX):
        key = value.removeprefix(STORAGE_PREFIX)
        with storage.local_file(_storage_key(value, refused=_keys_refused(context.requester, [key]))) as path:
            yield path
        return
    path = resolve_import_path(value, base=context.manifest.base)
    if not path.is_file():
        raise InvalidInput(f"{value!r} is not a file.")
    yield path


def _ingest(context: _RowContext, *, value: str, prompt: str, model: str, **fields) -> Video:
    with _video_file(context, value) as path:
        video, _ = video_ingest(project=context.project, path=path, prompt_text=prompt, model_name=model,
                                source=context.manifest.source, original_name=value, **fields)
    return video


def _incoming(context: _RowContext, row: dict | str, *, refused: set[str]) -> Incoming:
    """A manifest row's video, checked, and copied in unless the job registers files in place."""
    if isinstance(row, str):
        raise InvalidInput(row)
    value = _text(row, "video")
    item = Incoming(prompt=_text(row, "prompt"), model=_text(row, "model"), seed=_seed(row.get("seed")),
                    meta=_meta(row.get("meta")), original_name=value)
    source = context.manifest.source
    if value.startswith(STORAGE_PREFIX):
        key = _storage_key(value, refused=refused)
        if not context.in_place:
            with storage.local_file(key) as path:
                return incoming_copy(path, item, source=source)
        if not storage.exists(key):
            raise InvalidInput(f"No file stored under {key!r}.")
        return incoming_in_place(key, item, source=source, size_bytes=storage.size(key))
    path = resolve_import_path(value, base=context.manifest.base)
    if not path.is_file():
        raise InvalidInput(f"{value!r} is not a file.")
    if not context.in_place:
        return incoming_copy(path, item, source=source)
    key = storage.IMPORT_ROOT_PREFIX + str(path.relative_to(import_root()))
    return incoming_in_place(key, item, source=source, size_bytes=path.stat().st_size)


def _labels(context: _RowContext, row: dict) -> dict[str, str]:
    choices = {}
    for column, key in context.labels.items():
        value = (row.get(column) or "").strip()
        if not value:
            continue
        if value.lower() not in LABELS:
            raise InvalidInput(f"{column}: {value!r} is not a label; use A, B or same.")
        choices[key] = LABELS[value.lower()]
    if not choices:
        raise InvalidInput(f"The row has no labels ({', '.join(context.labels)} are all empty).")
    return choices


def _rewardbench_row(context: _RowContext, row: dict) -> None:
    prompt = prompt_get_or_create(project=context.project, text=_text(row, "prompt"))
    choices = _labels(context, row)
    videos = []
    for side in "AB":
        value = _text(row, f"path_{side}")
        model = (row.get(f"{side}_model") or "").strip() or UNKNOWN_MODEL
        try:
            video = _ingest(context, value=value, prompt=prompt.text, model=model)
        except ServiceError as exc:
            raise InvalidInput(f"path_{side} {value!r}: {exc.message}") from exc
        if video.prompt_id != prompt.pk:
            raise InvalidInput(f"path_{side} {value!r} is already in the project under another prompt (video {video.pk}).")
        videos.append(video)
    video_a, video_b = videos
    if video_a.pk == video_b.pk:
        raise InvalidInput("path_A and path_B are the same video (identical bytes).")
    _judgment_import(context, video_a=video_a, video_b=video_b, choices=choices)


def _judgment_import(context: _RowContext, *, video_a: Video, video_b: Video, choices: dict[str, str]) -> None:
    """An imported vote on (A, B), in the pair's canonical order; the CSV's A is the pair's A when it is new.

    Imported pairs need exactly the votes they came with (target follows done_count), so they never enter
    the annotation queue while their videos are still being processed.
    """
    pair = Pair.objects.filter(Q(video_a=video_a, video_b=video_b) | Q(video_a=video_b, video_b=video_a)).first()
    if pair is None:
        try:
            with transaction.atomic():
                pair = Pair.objects.create(project=context.project, prompt_id=video_a.prompt_id, video_a=video_a,
                                           video_b=video_b, target=0, shuffle_key=context.rng.randrange(2**31),
                                           strategy="imported")
        except IntegrityError:
            raise InvalidInput("Another import created this pair at the same moment; import the row again.") from None
    elif pair.video_a_id != video_a.pk:
        choices = {key: SWAP[value] for key, value in choices.items()}
    Judgment.objects.create(pair=pair, choices=choices, imported=True)
    Pair.objects.filter(pk=pair.pk).update(done_count=F("done_count") + 1,
                                          target=Greatest(F("target"), F("done_count") + 1))
