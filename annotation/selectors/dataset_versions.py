"""Reads for dataset versions: who may see one, its files, and where a download lives on disk."""

import re
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, QuerySet

from annotation.exports import MANIFEST_FILE
from annotation.exports.checksums import SUMS_FILE
from annotation.models import DatasetVersion, Project
from annotation.permissions import require_role
from annotation.selectors.export_rows import selected_judgments
from annotation.splits import split_of
from config.errors import Conflict, NotFound

_VIDEO_FILE = re.compile(r"^videos/[0-9a-f]{64}\.mp4$")


def dataset_versions_of(project: Project) -> QuerySet[DatasetVersion]:
    return project.dataset_versions.select_related("created_by").order_by("-number")


def dataset_version_for(user: AbstractBaseUser, version_id: int) -> DatasetVersion:
    """The version, if ``user`` manages its project (404 for outsiders, 403 for annotators)."""
    version = DatasetVersion.objects.select_related("project").filter(pk=version_id).first()
    if version is None:
        raise NotFound("Dataset version not found.")
    require_role(user, version.project, "manager")
    return version


def version_files(version: DatasetVersion) -> list[dict]:
    """Downloadable files of a succeeded version: [{path, bytes, sha256}], manifest and checksums first.

    Videos exported as a folder are not listed one by one (there can be many thousands); each is still
    downloadable by its ``videos/<sha256>.mp4`` path.
    """
    if version.status != DatasetVersion.Status.SUCCEEDED:
        return []
    files = version.manifest.get("files", {})
    head = [{"path": MANIFEST_FILE, "bytes": None, "sha256": None},
            {"path": SUMS_FILE, "bytes": None, "sha256": None}]
    return head + [{"path": path, **files[path]} for path in sorted(files)]


def version_file_path(version: DatasetVersion, path: str) -> Path:
    """The file on disk for ``path`` inside a succeeded version; NotFound for anything else."""
    if version.status != DatasetVersion.Status.SUCCEEDED:
        raise Conflict(f"Dataset version {version.number} is {version.status}; its files can be downloaded once it "
                       "has succeeded.", code="not_ready")
    listed = path in (MANIFEST_FILE, SUMS_FILE) or path in version.manifest.get("files", {})
    in_video_folder = version.include_videos == "folder" and _VIDEO_FILE.match(path)
    if not (listed or in_video_folder):
        raise NotFound(f"Dataset version {version.number} has no file {path!r}; GET the version for its file list.")
    folder = (Path(settings.EXPORT_ROOT) / version.folder).resolve()
    file = (folder / path).resolve()
    if not file.is_relative_to(folder) or not file.is_file():
        raise NotFound(f"The file {path!r} of dataset version {version.number} is missing on the server.")
    return file


def split_preview(*, project: Project, request: dict) -> dict:
    """What a version asked for with ``request`` (as ``dataset_version_request_clean`` returns it) would hold per
    split: rows, pairs and prompts, counted before the agreement filter (which needs every vote); and a warning for
    each split with a share that would get no prompt at all."""
    filters, fractions = request["filters"], request["splits"]
    per_pair = (selected_judgments(project_id=project.pk, filters=filters)
                .values("pair_id", "pair__prompt__text").annotate(n=Count("id"))
                .filter(n__gte=filters.get("min_judgments", 1)).order_by())
    splits = {name: {"fraction": share, "rows": 0, "pairs": 0, "prompts": 0} for name, share in fractions.items()}
    prompt_split: dict[str, str] = {}
    for row in per_pair.iterator():
        prompt = row["pair__prompt__text"]
        if prompt not in prompt_split:
            prompt_split[prompt] = split_of(prompt, fractions, request["seed"])
            splits[prompt_split[prompt]]["prompts"] += 1
        counts = splits[prompt_split[prompt]]
        counts["pairs"] += 1
        counts["rows"] += 1 if request["granularity"] == "consensus" else row["n"]
    warnings = [
        f"{name} would be empty: none of the {len(prompt_split)} prompts falls in its {counts['fraction']:g} share "
        f"(each prompt's split is fixed by the seed). Raise its fraction, try another seed, set it to 0, or collect "
        f"judgments on more prompts."
        for name, counts in splits.items() if counts["fraction"] > 0 and counts["prompts"] == 0]
    return {"splits": splits, "prompts": len(prompt_split), "warnings": warnings,
            "before_agreement_filter": filters.get("min_agreement") is not None}
