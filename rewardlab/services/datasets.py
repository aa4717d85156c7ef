"""A dataset version as the ML code reads it: its ``dataset.jsonl`` and a folder where its video paths resolve.

Rows name videos ``videos/<sha256>.mp4`` relative to the version folder. When the version was exported
with its videos in a folder they are there; otherwise (no videos, or a tar/zip for download) the worker
links the project's stored videos into the run's own ``videos/`` folder (downloading them from remote
storage), so any succeeded version can be trained on.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from django.conf import settings

from annotation import storage
from annotation.models import DatasetVersion, Video
from config.errors import InvalidInput

PAIRS_FILE = "dataset.jsonl"


def version_folder(version: DatasetVersion) -> Path:
    folder = Path(version.folder)
    return folder if folder.is_absolute() else Path(settings.EXPORT_ROOT) / folder


def check_trainable(version: DatasetVersion) -> Path:
    """The version's pairs file; InvalidInput, saying what to do, when it cannot be trained on."""
    where = f"Dataset version {version.number} of project {version.project_id}"
    if version.status != DatasetVersion.Status.SUCCEEDED:
        raise InvalidInput(f"{where} is {version.status}; wait for the export to succeed or pick another version.",
                           fields={"dataset_version": [f"not succeeded ({version.status})"]})
    if "jsonl" not in (version.formats or []):
        raise InvalidInput(f"{where} has no JSONL file; export a new version with the jsonl format.",
                           fields={"dataset_version": ["no jsonl format"]})
    path = version_folder(version) / PAIRS_FILE
    if not path.is_file():
        raise InvalidInput(f"{where}: {path} is missing; export the version again.", fields={"dataset_version": ["file missing"]})
    return path


def split_counts(pairs_file: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    with pairs_file.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                split = json.loads(line).get("split", "train")
                counts[split] = counts.get(split, 0) + 1
    return counts


def _row_videos(pairs_file: Path) -> set[str]:
    with pairs_file.open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return {row[side]["sha256"] for row in rows for side in ("video_A", "video_B")}


def video_root(version: DatasetVersion, scratch: Path) -> Path:
    """The folder the rows' ``videos/<sha256>.mp4`` paths are relative to."""
    folder = version_folder(version)
    if (folder / "videos").is_dir():
        return folder
    wanted = _row_videos(folder / PAIRS_FILE)
    target = scratch / "videos"
    target.mkdir(parents=True, exist_ok=True)
    found = Video.objects.filter(project_id=version.project_id, sha256__in=wanted).values_list("sha256", "playback", "original")
    for sha256, playback, original in found:
        link = target / f"{sha256}.mp4"
        if link.exists():
            continue
        key = playback or original
        local = storage.local_path(key)
        if local is not None:
            link.unlink(missing_ok=True)  # a dangling link from a moved media root
            link.symlink_to(local)
        else:
            with storage.storage().open(key, "rb") as src, open(link, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    missing = wanted - {sha for sha, _, _ in found}
    if missing:
        raise InvalidInput(f"{len(missing)} videos of dataset version {version.number} are no longer in project "
                           f"{version.project_id} (e.g. {sorted(missing)[0]}); export a new version.")
    return scratch
