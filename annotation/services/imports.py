"""Imports as jobs, row by row: manifests (JSONL or CSV), folders, and RewardBench / VideoAlign CSVs.

Every row is its own transaction: a row that fails is rolled back whole (no video without its pair, no pair
without its judgment), its reason is recorded on the job, and the other rows go on. The job's counters are
written in the row's transaction, so a job stopped anywhere resumes at the first row not yet counted.

Paths in a manifest name files under IMPORT_ROOT: looked up next to the manifest first, then from the import
root itself. Absolute paths, ``..`` and symlinks that lead outside the import root are refused. A value
``storage:<key>`` names a file already in the media storage (a bucket key, say): admins and the CLI may name
any key; a manager only the original of a video in a project they manage, so no one copies in another
project's videos by guessing their content address.
"""

import csv
import io
import json
import logging
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from annotation import storage
from annotation.models import ImportJob, Judgment, Pair, Project, Video
from annotation.services.ingest import check_upload_size, prompt_get_or_create, video_ingest
from config.errors import Conflict, InvalidInput, ServiceError

logger = logging.getLogger(__name__)

MANIFEST_COLUMNS = ("prompt", "video", "model")
REWARDBENCH_COLUMNS = ("path_A", "path_B", "prompt")
# RewardBench label columns (matched case-insensitively) and the project dimension each one fills.
REWARDBENCH_DIMENSIONS = {"vq": "vq", "mq": "mq", "ta": "ta", "overall": "overall"}
LABELS = {"a": "A", "b": "B", "same": "tie", "tie": "tie"}
SWAP = {"A": "B", "B": "A", "tie": "tie"}
UNKNOWN_MODEL = "unknown"  # VideoAlign's own CSVs have no A_model/B_model columns
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".gif"}
STORAGE_PREFIX = "storage:"
UPLOAD_PREFIX = "upload:"
MAX_ERRORS_KEPT = 1000  # failed_rows counts them all; the job row keeps the first ones
NAME_MAX = 255  # bytes in one path component on the file systems we run on


def import_root() -> Path:
    return Path(settings.IMPORT_ROOT).resolve()


def resolve_import_path(value: str, *, base: Path | None = None) -> Path:
    """The existing file or folder a manifest names, inside IMPORT_ROOT; InvalidInput otherwise."""
    root = import_root()
    text = (value or "").strip()
    if not text:
        raise InvalidInput("The path is empty.")
    relative = PurePosixPath(text.replace("\\", "/"))
    if relative.is_absolute() or PureWindowsPath(text).drive:
        raise InvalidInput(f"{text!r} is an absolute path; give a path relative to the import root.")
    if ".." in relative.parts:
        raise InvalidInput(f"{text!r} contains '..'; paths must stay inside the import root.")
    too_long = [part for part in relative.parts if len(part.encode()) > NAME_MAX]
    if too_long:  # the file system would refuse it (ENAMETOOLONG) before we could say why
        raise InvalidInput(f"{too_long[0][:40]!r}… is {len(too_long[0].encode())} bytes long; "
                           f"a file or folder name has at most {NAME_MAX}.")
    for folder in dict.fromkeys([base or root, root]):  # next to the manifest, then from the root
        candidate = folder / relative
        try:
            found = candidate.exists() or candidate.is_symlink()
        except OSError as exc:  # a path too long in all, say
            raise InvalidInput(f"{text!r} cannot be looked up: {exc.strerror}.") from None
        if found:
            resolved = candidate.resolve()
            if not resolved.is_relative_to(root):
                raise InvalidInput(f"{text!r} resolves outside the import root (a symlink?); refused.")
            if not resolved.exists():
                raise InvalidInput(f"{text!r} is a broken link.")
            return resolved
    raise InvalidInput(f"No file {text!r} under the import root.")


# --- reading manifests -------------------------------------------------------------------------------


@dataclass
class Manifest:
    kind: str
    source: str  # the Video.Source its videos get
    base: Path  # relative paths are looked up here first
    rows: list[dict | str] = field(default_factory=list)  # a str is the reason a row could not be parsed
    columns: list[str] = field(default_factory=list)


def _format(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in {".jsonl", ".ndjson", ".json"}:
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise InvalidInput(f"{name!r}: a manifest is a .jsonl or .csv file (or a folder under the import root).")


def _jsonl_rows(text: str) -> list[dict | str]:
    rows: list[dict | str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            rows.append(f"Not valid JSON ({exc.msg} at character {exc.pos + 1}).")
            continue
        rows.append(row if isinstance(row, dict) else "A JSONL row must be a JSON object.")
    return rows


def _csv_rows(text: str) -> tuple[list[str], list[dict | str]]:
    reader = csv.reader(io.StringIO(text))
    header = [name.strip() for name in next(reader, [])]
    rows: list[dict | str] = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            rows.append(f"The row has {len(cells)} cells; the header has {len(header)} columns.")
            continue
        rows.append(dict(zip(header, cells, strict=True)))
    return header, rows


def _folder_rows(folder: Path) -> list[dict | str]:
    """``<model>/<name>.mp4`` with the prompt in ``<model>/<name>.txt`` beside it."""
    rows: list[dict | str] = []
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in VIDEO_SUFFIXES or not path.is_file():
            continue
        relative = path.relative_to(folder)
        prompt_file = path.with_suffix(".txt")
        if len(relative.parts) < 2:
            rows.append(f"{relative}: put videos in a folder named after their model (<model>/{relative}).")
        elif not prompt_file.is_file():
            rows.append(f"{relative}: no prompt; write it in {relative.with_suffix('.txt')}.")
        else:
            rows.append({"video": str(relative), "model": relative.parts[0],
                         "prompt": prompt_file.read_text(encoding="utf-8", errors="replace")})
    return rows


def _check_columns(kind: str, columns: list[str], *, project: Project) -> None:
    wanted = REWARDBENCH_COLUMNS if kind == ImportJob.Kind.REWARDBENCH else MANIFEST_COLUMNS
    missing = [name for name in wanted if name not in columns]
    if missing:
        expected = ("path_A, path_B, prompt and labels VQ, MQ, TA, Overall (A/B/same)"
                    if kind == ImportJob.Kind.REWARDBENCH else "prompt, video, model, optional seed and meta")
        raise InvalidInput(f"The CSV lacks columns: {', '.join(missing)}. Expected {expected}.",
                           fields={"manifest": [f"missing columns: {', '.join(missing)}"]})
    if kind == ImportJob.Kind.REWARDBENCH and not _label_columns(columns, project=project):
        raise InvalidInput(f"None of the CSV's label columns match this project's dimensions "
                           f"({', '.join(project.dimension_keys)}); expected some of VQ, MQ, TA, Overall.")


def _label_columns(columns: list[str], *, project: Project) -> dict[str, str]:
    """CSV column → project dimension key, for the RewardBench label columns this project has."""
    keys = set(project.dimension_keys)
    return {c: REWARDBENCH_DIMENSIONS[c.lower()] for c in columns
            if c.lower() in REWARDBENCH_DIMENSIONS and REWARDBENCH_DIMENSIONS[c.lower()] in keys}


def manifest_read(
    *, path: Path, project: Project, kind: str | None = None, base: Path | None = None, name: str = ""
) -> Manifest:
    """Parse a manifest file or folder, work out its kind when not given, and check its columns.

    ``name``: the file name the format is read from, when ``path`` is a temporary copy.
    """
    if path.is_dir():
        if kind == ImportJob.Kind.REWARDBENCH:
            raise InvalidInput("A RewardBench import is a CSV file, not a folder.")
        return Manifest(kind=ImportJob.Kind.MANIFEST, source=Video.Source.FOLDER, base=path, rows=_folder_rows(path))
    fmt = _format(name or path.name)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("The manifest is not UTF-8 text.") from None
    if fmt == "jsonl":
        if kind == ImportJob.Kind.REWARDBENCH:
            raise InvalidInput("A RewardBench import is a CSV file.")
        return Manifest(kind=ImportJob.Kind.MANIFEST, source=Video.Source.MANIFEST, base=base or path.parent,
                        rows=_jsonl_rows(text))
    columns, rows = _csv_rows(text)
    if kind is None:
        kind = ImportJob.Kind.REWARDBENCH if {"path_A", "path_B"} <= set(columns) else ImportJob.Kind.MANIFEST
    _check_columns(kind, columns, project=project)
    source = Video.Source.REWARDBENCH if kind == ImportJob.Kind.REWARDBENCH else Video.Source.MANIFEST
    return Manifest(kind=kind, source=source, base=base or path.parent, rows=rows, columns=columns)


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
    enqueue: bool = True,
) -> ImportJob:
    """Check a manifest (a path under IMPORT_ROOT, or an uploaded file) and queue its import.

    Unreadable files and missing columns fail here, before a job exists. ``enqueue=False``: the caller runs
    the job itself (the CLI).
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
    job = ImportJob.objects.create(project=project, kind=checked.kind, source=source, source_sha256=digest,
                                   created_by=created_by, total_rows=len(checked.rows))
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


def import_job_run(*, job: ImportJob, max_seconds: float | None = None) -> bool:
    """Process the job's remaining rows; True when it is finished, False when ``max_seconds`` ran out first."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().select_related("project").get(pk=job.pk)
        if job.status in (ImportJob.Status.SUCCEEDED, ImportJob.Status.FAILED):
            return True
        job.status = ImportJob.Status.RUNNING
        job.save(update_fields=["status"])
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    try:
        with _job_manifest_path(job) as (path, base):
            manifest = manifest_read(path=path, project=job.project, kind=job.kind, base=base)
            if job.total_rows != len(manifest.rows):
                job.total_rows = len(manifest.rows)
                job.save(update_fields=["total_rows"])
            context = _RowContext(project=job.project, manifest=manifest, rng=random.Random(),
                                  requester=job.created_by,
                                  labels=_label_columns(manifest.columns, project=job.project))
            for number in range(job.done_rows + job.failed_rows + 1, len(manifest.rows) + 1):
                if deadline is not None and time.monotonic() > deadline:
                    return False
                _run_row(job, context, number)
    except ServiceError as exc:  # the manifest itself went bad (moved, edited) after the job was made
        _finish(job, error=exc.message)
        return True
    except Exception as exc:
        _finish(job, error=f"The import stopped at row {job.done_rows + job.failed_rows + 1}: "
                           f"{type(exc).__name__}: {exc}. Start a new import for the remaining rows.")
        raise
    _finish(job, error="" if job.done_rows or not job.failed_rows else f"All {job.failed_rows} rows failed; see errors.")
    return True


def _run_row(job: ImportJob, context: _RowContext, number: int) -> None:
    row = context.manifest.rows[number - 1]
    try:
        with transaction.atomic():
            if isinstance(row, str):
                raise InvalidInput(row)
            if context.manifest.kind == ImportJob.Kind.REWARDBENCH:
                _rewardbench_row(context, row)
            else:
                _manifest_row(context, row)
            ImportJob.objects.filter(pk=job.pk).update(done_rows=F("done_rows") + 1)
        job.done_rows += 1
        return
    except ServiceError as exc:
        reason = exc.message
    except (OperationalError, InterfaceError):  # the database is gone: stop rather than fail every row
        raise
    except DatabaseError as exc:
        reason = f"The database refused the row: {exc}".strip()
    except Exception as exc:  # one odd row must not stop a job of thousands
        logger.exception("import job %s row %s", job.pk, number)
        reason = f"Unexpected error ({type(exc).__name__}: {exc})."
    job.failed_rows += 1
    if len(job.errors) < MAX_ERRORS_KEPT:
        job.errors.append({"row": number, "error": reason})
    job.save(update_fields=["failed_rows", "errors"])


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


def _check_key_access(user: AbstractBaseUser | None, key: str) -> None:
    if user is None or user.is_staff:
        return
    managed = Video.objects.filter(original=key, project__memberships__user=user,
                                   project__memberships__role="manager")
    if not managed.exists():
        raise InvalidInput(f"Storage key {key!r} is not a video of a project you manage; import the file by its "
                           "path under the import root, or ask an admin.")


@contextmanager
def _video_file(context: _RowContext, value: str) -> Iterator[Path]:
    if value.startswith(STORAGE_PREFIX):
        key = storage.check_key(value.removeprefix(STORAGE_PREFIX))
        _check_key_access(context.requester, key)
        with storage.local_file(key) as path:
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


def _manifest_row(context: _RowContext, row: dict) -> None:
    _ingest(context, value=_text(row, "video"), prompt=_text(row, "prompt"), model=_text(row, "model"),
            seed=_seed(row.get("seed")), meta=_meta(row.get("meta")))


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
