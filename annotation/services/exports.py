"""Dataset versions: ask for one (checked, numbered, queued), then write it once; after that it never changes.

``dataset_version_create`` checks the request and records it; every check happens there, so a bad request
leaves no row and no file. ``dataset_version_export`` (run by the Celery task or ``manage.py
export_dataset``) streams the rows into every requested format in a hidden folder, hashes the files,
writes the manifest and renames the folder into place; only then does the row turn ``succeeded``. From
then on a database trigger refuses any change to the row (migration ``dataset_version_immutable``), and
the files are read-only. New data means a new version.

The same request over the same judgments gives the same bytes: rows come in a fixed order, splits and
annotator pseudonyms depend only on the seed, and no file but ``manifest.json`` holds a time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import importlib.metadata
import json
import logging
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from annotation import storage
from annotation.exports import FORMATS, GRANULARITIES, INCLUDE_VIDEOS, MANIFEST_FILE, WRITERS, Chunk, Layout
from annotation.exports.checksums import SUMS_FILE, write_sums
from annotation.exports.rewardbench import DIMENSION_COLUMNS
from annotation.exports.stats import Stats
from annotation.exports.videos import VideoCollector, write_videos
from annotation.models import DatasetVersion, Judgment, Project
from annotation.selectors.export_rows import ExportRows, annotator_pseudonym, selected_judgments, video_files
from annotation.splits import DEFAULT_SPLITS, validate_fractions
from config.errors import InvalidInput, NotFound, ServiceError

log = logging.getLogger(__name__)

MANIFEST_FORMAT = 1
FILTER_KEYS = ("dimensions", "annotators", "created_from", "created_to", "include_gold", "include_imported",
               "min_judgments", "min_agreement", "until_judgment_id")
_MAX_SEED = 2**63 - 1
_PROGRESS_EVERY_S = 1.0

Progress = Callable[[int, int], None]


def _invalid(field: str, message: str, *, code: str = "invalid") -> InvalidInput:
    return InvalidInput(message, code=code, fields={field: [message]})


# ---------------------------------------------------------------------------------------------- the request

def _clean_formats(formats: Any) -> list[str]:
    if isinstance(formats, str):
        formats = [formats]
    if not isinstance(formats, list | tuple) or not formats:
        raise _invalid("formats", f"formats must be a non-empty list; choose from {', '.join(FORMATS)}.")
    unknown = sorted({str(f) for f in formats} - set(FORMATS))
    if unknown:
        raise _invalid("formats", f"Unknown format {', '.join(map(repr, unknown))}; choose from {', '.join(FORMATS)}.",
                       code="unknown_format")
    return [f for f in FORMATS if f in formats]  # a canonical order, so equal requests are equal


def _clean_time(field: str, value: Any) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    else:
        text = str(value)
        moment = parse_datetime(text) or (dt.datetime.combine(d, dt.time()) if (d := parse_date(text)) else None)
        if moment is None:
            raise _invalid(f"filters.{field}", f"{field} must be an ISO 8601 date or time (e.g. 2025-01-31 or 2025-01-31T12:00:00Z), not {text!r}.")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, dt.UTC)
    return moment.astimezone(dt.UTC).isoformat()


def _clean_filters(project: Project, filters: Mapping[str, Any] | None) -> dict[str, Any]:
    filters = dict(filters or {})
    unknown = sorted(set(filters) - set(FILTER_KEYS))
    if unknown:
        raise _invalid("filters", f"Unknown filter {', '.join(map(repr, unknown))}; use {', '.join(FILTER_KEYS)}.")

    keys = project.dimension_keys
    dimensions = filters.get("dimensions") or keys
    if not isinstance(dimensions, list | tuple) or set(dimensions) - set(keys):
        raise _invalid("filters.dimensions", f"dimensions must be a list of this project's dimensions: {', '.join(keys)}.")

    annotators = filters.get("annotators")
    if annotators is not None:
        if not isinstance(annotators, list | tuple) or not all(isinstance(a, str) for a in annotators):
            raise _invalid("filters.annotators", "annotators must be a list of usernames.")
        found = dict(get_user_model().objects.filter(username__in=annotators).values_list("username", "id"))
        missing = sorted(set(annotators) - set(found))
        if missing:
            raise _invalid("filters.annotators", f"No user named {', '.join(map(repr, missing))}.")
        annotators = sorted(found.values())

    min_agreement = filters.get("min_agreement")
    if min_agreement is not None:
        if isinstance(min_agreement, bool) or not isinstance(min_agreement, int | float) or not 0 <= min_agreement <= 1:
            raise _invalid("filters.min_agreement", "min_agreement must be a number between 0 and 1 (1 = unanimous pairs only).")
        min_agreement = float(min_agreement)
    min_judgments = filters.get("min_judgments", 1)
    if isinstance(min_judgments, bool) or not isinstance(min_judgments, int) or min_judgments < 1:
        raise _invalid("filters.min_judgments", "min_judgments must be a whole number of at least 1.")
    for flag in ("include_gold", "include_imported"):
        if not isinstance(filters.get(flag, False), bool):
            raise _invalid(f"filters.{flag}", f"{flag} must be true or false.")

    until = filters.get("until_judgment_id")
    if until is None:
        # The snapshot: judgments made after this request are not part of the version.
        until = Judgment.objects.filter(pair__project=project).aggregate(m=Max("id"))["m"] or 0
    elif isinstance(until, bool) or not isinstance(until, int) or until < 0:
        raise _invalid("filters.until_judgment_id", "until_judgment_id must be a judgment id (a whole number).")

    cleaned = {
        "dimensions": [k for k in keys if k in dimensions],
        "annotators": annotators,
        "created_from": _clean_time("created_from", filters.get("created_from")),
        "created_to": _clean_time("created_to", filters.get("created_to")),
        "include_gold": filters.get("include_gold", False),
        "include_imported": filters.get("include_imported", True),
        "min_judgments": min_judgments,
        "min_agreement": min_agreement,
        "until_judgment_id": until,
    }
    if cleaned["created_from"] and cleaned["created_to"] and cleaned["created_from"] >= cleaned["created_to"]:
        raise _invalid("filters.created_to", "created_from must be before created_to.")
    return cleaned


def dataset_version_request_clean(
    *,
    project: Project,
    formats: list[str],
    granularity: str = "consensus",
    splits: Mapping[str, float] | None = None,
    seed: int = 0,
    filters: Mapping[str, Any] | None = None,
    include_videos: str = "",
    name: str = "",
) -> dict[str, Any]:
    """A version request checked and normalised (InvalidInput names the bad field); whether any judgment matches
    is not asked here (the pipeline checks its request long before it exports)."""
    formats = _clean_formats(formats)
    if granularity not in GRANULARITIES:
        raise _invalid("granularity", f"granularity must be one of {', '.join(GRANULARITIES)}, not {granularity!r}.")
    if include_videos not in INCLUDE_VIDEOS:
        raise _invalid("include_videos", f"include_videos must be empty or one of folder, tar, zip, not {include_videos!r}.")
    try:
        fractions = validate_fractions(DEFAULT_SPLITS if splits is None else splits)
    except ValueError as exc:
        raise _invalid("splits", str(exc)) from None
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= _MAX_SEED:
        raise _invalid("seed", "seed must be a whole number between 0 and 2**63 - 1.")
    if len(name) > 200:
        raise _invalid("name", "name must be at most 200 characters.")
    cleaned = _clean_filters(project, filters)
    if "rewardbench" in formats and not set(cleaned["dimensions"]) & set(DIMENSION_COLUMNS):
        raise _invalid("formats", "The rewardbench format needs at least one of the dimensions vq, mq, ta, overall; "
                                  f"this selection has {', '.join(cleaned['dimensions'])}.")
    return {"formats": formats, "granularity": granularity, "splits": fractions, "seed": seed, "filters": cleaned,
            "include_videos": include_videos, "name": name}


@transaction.atomic
def dataset_version_create(
    *,
    project: Project,
    created_by: AbstractBaseUser | None,
    formats: list[str],
    granularity: str = "consensus",
    splits: Mapping[str, float] | None = None,
    seed: int = 0,
    filters: Mapping[str, Any] | None = None,
    include_videos: str = "",
    name: str = "",
    enqueue: bool = True,
) -> DatasetVersion:
    """Check and record a version request; with ``enqueue`` the Celery job starts once this commits."""
    request = dataset_version_request_clean(project=project, formats=formats, granularity=granularity, splits=splits,
                                            seed=seed, filters=filters, include_videos=include_videos, name=name)
    if not selected_judgments(project_id=project.pk, filters=request["filters"]).exists():
        raise InvalidInput("No judgments match this selection, so there is nothing to export. Widen the filters "
                           "(annotators, dates, gold, imported) or collect judgments first.", code="empty_selection")

    # Lock the project row so two requests cannot take the same version number.
    Project.objects.select_for_update().filter(pk=project.pk).first()
    number = (project.dataset_versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = DatasetVersion.objects.create(project=project, number=number, created_by=created_by, **request)
    if enqueue:
        from workers.exports import export_dataset_version  # workers import services, not the other way at load

        transaction.on_commit(lambda: export_dataset_version.delay(version.pk))
    return version


# ----------------------------------------------------------------------------------------------- the export

@functools.cache
def code_version() -> str:
    """The package version and, where the source is a git checkout, its commit."""
    try:
        version = importlib.metadata.version("vidpref")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    commit = settings.VIDPREF_COMMIT
    if not commit:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=settings.BASE_DIR, timeout=5,
                                    capture_output=True, text=True).stdout.strip()
    return f"{version}+{commit}" if commit else version


def _final_folder(version: DatasetVersion) -> Path:
    return Path(settings.EXPORT_ROOT) / str(version.project_id) / f"v{version.number}"


def _claim(version_id: int) -> DatasetVersion:
    with transaction.atomic():
        version = DatasetVersion.objects.select_for_update().filter(pk=version_id).first()
        if version is None:
            raise NotFound(f"Dataset version {version_id} does not exist.")
        if version.status != DatasetVersion.Status.SUCCEEDED:
            # Queued, or running on a worker that died (the task was delivered again): start over.
            version.status, version.progress, version.error = DatasetVersion.Status.RUNNING, 0.0, ""
            version.save(update_fields=["status", "progress", "error"])
        return version


class _Progress:
    """Records progress on the row at most once a second, and tells ``on_progress`` every chunk."""

    def __init__(self, version: DatasetVersion, on_progress: Progress | None):
        self.version_id = version.pk
        self.on_progress = on_progress
        self._last = 0.0

    def __call__(self, done: int, total: int, *, share: tuple[float, float] = (0.0, 1.0)) -> None:
        if self.on_progress:
            self.on_progress(done, total)
        now = time.monotonic()
        if now - self._last >= _PROGRESS_EVERY_S:
            self._last = now
            start, width = share
            fraction = start + width * (done / total if total else 1.0)
            # The heartbeat tells the stale-job sweeper this version's worker is alive.
            DatasetVersion.objects.filter(pk=self.version_id).update(progress=round(min(fraction, 0.999), 4),
                                                                     heartbeat_at=timezone.now())


def _public_filters(version: DatasetVersion) -> dict[str, Any]:
    """The filters as the manifest shows them: annotators by pseudonym, never by name or id."""
    filters = dict(version.filters)
    if filters.get("annotators") is not None:
        filters["annotators"] = sorted(
            annotator_pseudonym(project_id=version.project_id, seed=version.seed, user_id=u) for u in filters["annotators"]
        )
    return filters


def _manifest(version: DatasetVersion, layout: Layout, counts: dict, files: dict, videos: dict | None, sha256: str) -> dict:
    project = version.project
    return {
        "manifest_format": MANIFEST_FORMAT,
        "project": {"id": project.pk, "name": project.name},
        "version": version.number,
        "name": version.name,
        "created_at": version.created_at.isoformat(),
        "finished_at": timezone.now().isoformat(),
        "code_version": code_version(),
        "granularity": version.granularity,
        "formats": version.formats,
        "dimensions": [d for d in project.dimensions if d["key"] in layout.dimensions],
        "filters": _public_filters(version),
        "splits": dict(sorted(version.splits.items())),
        "seed": version.seed,
        "counts": counts,
        "columns": layout.csv_header,
        "files": files,
        "videos": videos,
        "sha256": sha256,
        "sha256_of": SUMS_FILE,
    }


def _write_version(version: DatasetVersion, folder: Path, progress: _Progress) -> dict:
    """Write every file of ``version`` into ``folder``; return the manifest."""
    filters = version.filters
    layout = Layout(version.granularity, tuple(filters["dimensions"]), tuple(sorted(version.splits)))
    source = ExportRows(project_id=version.project_id, filters=filters, layout=layout,
                        fractions=version.splits, seed=version.seed)
    total = source.count()
    stats = Stats(layout)
    collector = VideoCollector()
    rows_share = (0.0, 0.5 if version.include_videos else 1.0)

    with contextlib.ExitStack() as open_writers:
        writers = [open_writers.enter_context(WRITERS[f](folder, layout)) for f in version.formats]
        for rows in source.chunks():
            chunk = Chunk(rows, layout)
            stats.add(chunk)
            if version.include_videos:
                collector.add(chunk)
            for writer in writers:
                writer.write(chunk)
            progress(source.judgments_read, total, share=rows_share)
        if stats.total_rows == 0:
            raise InvalidInput(
                f"No pair passes min_judgments={filters['min_judgments']} and min_agreement={filters['min_agreement']} "
                f"among the {source.judgments_read} selected judgments; lower them and export again.",
                code="empty_selection")
        paths = [p for writer in writers for p in writer.close()]

    hashes = {p: storage.sha256_file(folder / p) for p in paths}
    files = {p: {"sha256": hashes[p], "bytes": (folder / p).stat().st_size} for p in paths}
    videos = None
    if version.include_videos:
        n = len(collector.sha256s)
        written = write_videos(
            folder, version.include_videos, video_files(project_id=version.project_id, sha256s=collector.sha256s),
            progress=lambda done: progress(done, n, share=(0.5, 0.5)),
        )
        hashes.update(written)
        sizes = {p: (folder / p).stat().st_size for p in written}
        videos = {"mode": version.include_videos, "count": n, "bytes": sum(sizes.values())}
        if version.include_videos != "folder":  # one archive: list it like the other files
            files.update({p: {"sha256": written[p], "bytes": sizes[p]} for p in written})
    sha256 = write_sums(folder, hashes)
    counts = stats.as_dict(judgments=source.judgments_kept, annotators=len(source.annotator_ids))
    manifest = _manifest(version, layout, counts, files, videos, sha256)
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def _make_read_only(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            path.chmod(0o444)


def dataset_version_export(*, version_id: int, on_progress: Progress | None = None) -> DatasetVersion:
    """Write a version's files and record the result; a version that already succeeded is returned as is.

    ``on_progress(done, total)`` hears of every chunk (the command's progress bar). Any failure marks the
    version failed with the reason and leaves no folder behind, then re-raises.
    """
    version = _claim(version_id)
    if version.status == DatasetVersion.Status.SUCCEEDED:
        return version
    final = _final_folder(version)
    root = final.parent
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(f".v{version.number}.partial-*"):  # from a worker killed mid-export
        shutil.rmtree(stale, ignore_errors=True)
    # A hidden sibling, so the rename into place is atomic and a half-written version is never visible.
    partial = Path(tempfile.mkdtemp(prefix=f".v{version.number}.partial-", dir=root))
    partial.chmod(0o755)  # mkdtemp makes it private; the published folder is read by the web server and ML jobs
    try:
        manifest = _write_version(version, partial, _Progress(version, on_progress))
        _make_read_only(partial)
        if final.exists():  # left by a run that died after publishing but before recording success
            shutil.rmtree(final)
        partial.rename(final)
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        message = exc.message if isinstance(exc, ServiceError) else f"{type(exc).__name__}: {exc}"
        DatasetVersion.objects.filter(pk=version.pk).exclude(status=DatasetVersion.Status.SUCCEEDED).update(
            status=DatasetVersion.Status.FAILED, error=message[:4000], finished_at=timezone.now())
        log.warning("dataset version %s failed: %s", version.pk, message)
        raise

    version.status = DatasetVersion.Status.SUCCEEDED
    version.progress = 1.0
    version.row_counts = manifest["counts"]
    version.sha256 = manifest["sha256"]
    version.manifest = manifest
    version.folder = str(final.relative_to(settings.EXPORT_ROOT))
    version.finished_at = timezone.now()
    version.heartbeat_at = None  # published: no worker holds it, and the row may not change after this save
    version.save(update_fields=["status", "progress", "row_counts", "sha256", "manifest", "folder", "finished_at",
                                "heartbeat_at"])
    return version

