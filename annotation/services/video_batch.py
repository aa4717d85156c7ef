"""Many videos in one go, for imports: bulk inserts instead of a transaction per video.

A file comes in one of two ways:

- copied: read once, hashed while it is copied into content-addressed storage (:func:`storage.put_hashed`);
- in place: a file already in the media storage (its key) or on the shared import file system
  (``import-root:<path>``) is registered where it is, with no hash yet.

Neither is probed here: probing costs more than hashing and copying a small file together, so the media task
each new video gets does it (hashing first, for files registered in place) and fails the video with the reason.
Rows with the same bytes as a video the project has resolve to that video, as :func:`video_ingest` does.
"""

from dataclasses import dataclass
from pathlib import Path

from django.db import IntegrityError, transaction

from annotation import storage
from annotation.models import GenerationModel, Project, Prompt, Video
from annotation.services import media
from annotation.services.ingest import check_fields, check_upload_size, generation_model_name, prompt_digest

VIDEOS_PER_TASK = 25


@dataclass
class Incoming:
    """One row's video, checked and (when copied) stored, before any database write."""

    prompt: str
    model: str
    original_name: str
    seed: int | None = None
    meta: dict | None = None
    original: str = ""  # the storage key (or import-root: key) the file is read from
    sha256: str | None = None  # None: registered in place, hashed later
    size_bytes: int = 0


def _check(item: Incoming, *, source: str) -> None:
    check_fields(seed=item.seed, source=source, meta=item.meta)
    item.model, item.prompt = generation_model_name(item.model), item.prompt.strip()


def incoming_copy(path: Path, item: Incoming, *, source: str) -> Incoming:
    """Check the fields and the file cheaply, then store it under its content key (one read)."""
    _check(item, source=source)
    if not path.is_file():
        raise media.MediaError(f"No file at {item.original_name}.")
    item.size_bytes = path.stat().st_size
    check_upload_size(item.size_bytes)
    media.sniff(path)
    item.sha256, item.original = storage.put_hashed(path, "original" + storage.safe_suffix(item.original_name))
    return item


def incoming_in_place(key: str, item: Incoming, *, source: str, size_bytes: int) -> Incoming:
    """Check the fields; the file stays under ``key`` and is hashed and probed by its media task."""
    _check(item, source=source)
    check_upload_size(size_bytes)
    item.original, item.size_bytes = key, size_bytes
    return item


@transaction.atomic
def videos_register(*, project: Project, items: list[Incoming], source: str) -> list[int]:
    """Create the prompts, models and videos of ``items`` in a few statements; the video id of each item, in order.

    New videos are queued for processing when the transaction commits.
    """
    prompts = _get_or_create_prompts(project, {item.prompt for item in items})
    models = _get_or_create_models(project, {item.model for item in items})
    hashes = {item.sha256 for item in items if item.sha256 is not None}
    known = dict(Video.objects.filter(project=project, sha256__in=hashes).values_list("sha256", "pk"))
    new: dict[str | int, Video] = {}  # sha256, or the item's index when it has no hash yet
    for index, item in enumerate(items):
        key = index if item.sha256 is None else item.sha256
        if key in known or key in new:
            continue
        new[key] = Video(
            project=project, prompt=prompts[item.prompt], generation_model=models[item.model],
            seed=item.seed, source=source, original=item.original, original_name=item.original_name[:500],
            sha256=item.sha256, size_bytes=item.size_bytes, meta=item.meta or {},
        )
    in_place = [v for k, v in new.items() if isinstance(k, int)]
    hashed = [v for k, v in new.items() if isinstance(k, str)]
    Video.objects.bulk_create(in_place)
    try:
        with transaction.atomic():
            Video.objects.bulk_create(hashed)
    except IntegrityError:  # a concurrent chunk stored some of the same bytes a moment ago: one by one, then
        hashed = [v for v in hashed if _create_unless_there(v)]
    ids = [new[index].pk if item.sha256 is None else known.get(item.sha256) or new[item.sha256].pk
           for index, item in enumerate(items)]
    _enqueue_processing([v.pk for v in in_place + hashed])
    return ids


def _create_unless_there(video: Video) -> bool:
    """Save ``video``, or take the pk of the project's video with the same bytes; True if it was new."""
    try:
        with transaction.atomic():
            video.save()
        return True
    except IntegrityError:
        video.pk = Video.objects.get(project=video.project, sha256=video.sha256).pk
        return False


def _get_or_create_prompts(project: Project, texts: set[str]) -> dict[str, Prompt]:
    digests = {prompt_digest(text): text for text in texts}
    Prompt.objects.bulk_create([Prompt(project=project, text=text, text_sha256=digest) for digest, text in digests.items()],
                               ignore_conflicts=True)
    rows = Prompt.objects.filter(project=project, text_sha256__in=digests)
    return {digests[p.text_sha256]: p for p in rows}


def _get_or_create_models(project: Project, names: set[str]) -> dict[str, GenerationModel]:
    GenerationModel.objects.bulk_create([GenerationModel(project=project, name=name) for name in names],
                                        ignore_conflicts=True)
    return {m.name: m for m in GenerationModel.objects.filter(project=project, name__in=names)}


def _enqueue_processing(video_ids: list[int]) -> None:
    # Imported here: workers.media imports the services, not the other way round at import time.
    from workers.media import process_videos_task

    # A few videos a task: sending a message costs about what registering a row does, and a transcode takes
    # seconds, so this keeps registration fast and the work still spread over the workers.
    groups = [video_ids[i:i + VIDEOS_PER_TASK] for i in range(0, len(video_ids), VIDEOS_PER_TASK)]
    transaction.on_commit(lambda: [process_videos_task.delay(group) for group in groups])
