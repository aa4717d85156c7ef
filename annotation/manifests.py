"""Reading an import's manifest: a JSONL or CSV file, or a folder, under IMPORT_ROOT; what its rows say and
whether its columns fit the import's kind. Nothing here writes: annotation/services/imports.py runs the rows.

Paths in a manifest name files under IMPORT_ROOT: looked up next to the manifest first, then from the import
root itself. Absolute paths, ``..`` and symlinks that lead outside the import root are refused.
"""

import csv
import functools
import io
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

from django.conf import settings

from annotation.models import ImportJob, Project, Video
from config.errors import InvalidInput

MANIFEST_COLUMNS = ("prompt", "video", "model")
REWARDBENCH_COLUMNS = ("path_A", "path_B", "prompt")
# RewardBench label columns (matched case-insensitively) and the project dimension each one fills.
REWARDBENCH_DIMENSIONS = {"vq": "vq", "mq": "mq", "ta": "ta", "overall": "overall"}
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".gif"}
NAME_MAX = 255  # bytes in one path component on the file systems we run on


def import_root() -> Path:
    return _resolved(str(settings.IMPORT_ROOT))


@functools.lru_cache(maxsize=8)
def _resolved(folder: str) -> Path:
    # Resolving walks every component of the path; imports ask for the root once a row.
    return Path(folder).resolve()


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
    if kind == ImportJob.Kind.REWARDBENCH and not label_columns(columns, project=project):
        raise InvalidInput(f"None of the CSV's label columns match this project's dimensions "
                           f"({', '.join(project.dimension_keys)}); expected some of VQ, MQ, TA, Overall.")


def label_columns(columns: list[str], *, project: Project) -> dict[str, str]:
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
