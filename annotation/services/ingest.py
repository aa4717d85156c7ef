"""One way in for every video: uploads, manifest and RewardBench imports, the CLI, generated rounds.

A file is probed (container headers, PyAV) before anything is written, stored once under its sha256, and processed
(transcode + poster) on the ``media`` queue after the transaction commits.
"""

import hashlib
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction

from annotation import storage
from annotation.models import GenerationModel, Project, Prompt, Video
from annotation.services import media
from config.errors import InvalidInput, ServiceError

MAX_SEED = 2**63 - 1
MULTIPART_SLACK = 64 * 1024  # form fields and part headers around an uploaded file


class FileTooLarge(ServiceError):
    status_code = 413
    code = "file_too_large"


def check_upload_size(size: int, *, slack: int = 0) -> None:
    """``slack``: bytes allowed on top, for a request body that wraps the file (multipart headers, fields)."""
    limit = settings.MAX_UPLOAD_BYTES
    if size > limit + slack:
        raise FileTooLarge(f"The file is {size / 2**20:.1f} MiB; the limit is {limit / 2**20:.1f} MiB (MAX_UPLOAD_BYTES).")


def prompt_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def prompt_get_or_create(*, project: Project, text: str) -> Prompt:
    text = text.strip()
    if not text:
        raise InvalidInput("The prompt is empty.", fields={"prompt": ["empty"]})
    prompt, _ = Prompt.objects.get_or_create(project=project, text_sha256=prompt_digest(text), defaults={"text": text})
    return prompt


def generation_model_name(name: str) -> str:
    """The model name as stored; InvalidInput unless it is 1-200 characters."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("The model name must be 1-200 characters.", fields={"model": ["empty or too long"]})
    return name


def generation_model_get_or_create(*, project: Project, name: str) -> GenerationModel:
    model, _ = GenerationModel.objects.get_or_create(project=project, name=generation_model_name(name))
    return model


def check_fields(*, seed: int | None, source: str, meta: dict | None) -> None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or abs(seed) > MAX_SEED):
        raise InvalidInput(f"seed must be a whole number that fits in 64 bits, not {seed!r}.", fields={"seed": ["invalid"]})
    if source not in Video.Source.values:
        raise InvalidInput(f"source must be one of {', '.join(Video.Source.values)}.", fields={"source": ["invalid"]})
    if meta is not None and not isinstance(meta, dict):
        raise InvalidInput("meta must be a JSON object.", fields={"meta": ["not an object"]})
    if meta and _has_nul(meta):
        raise InvalidInput("meta contains a NUL character (\\u0000), which the database cannot store; remove it.",
                           fields={"meta": ["contains \\u0000"]})


def _has_nul(value) -> bool:
    """Any NUL in the JSON's keys or strings (PostgreSQL's jsonb refuses them), walked without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _enqueue_processing(video_id: int) -> None:
    # Imported here: workers.media imports the services, not the other way round at import time.
    from workers.media import process_video_task

    transaction.on_commit(lambda: process_video_task.delay(video_id))


def video_ingest(
    *,
    project: Project,
    path: Path,
    prompt_text: str,
    model_name: str,
    seed: int | None = None,
    source: str = "upload",
    original_name: str = "",
    meta: dict | None = None,
    process_now: bool = False,
) -> tuple[Video, bool]:
    """Store a video file for a project; (video, created). The same bytes twice give the existing video.

    Rejects files that are not a readable video within the project's limits, before writing anything.
    ``process_now`` renders in this process instead of on a media worker (demo, generated rounds).
    """
    check_fields(seed=seed, source=source, meta=meta)
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"No file at {original_name or path.name}.")
    size = path.stat().st_size
    check_upload_size(size)
    info = media.probe(path)
    media.validate(info, project=project)

    sha256 = storage.sha256_file(path)
    existing = Video.objects.filter(project=project, sha256=sha256).first()
    if existing:
        return existing, False
    # Content-addressed, so a rolled-back row leaves at most a file the next ingest of those bytes reuses.
    original = storage.content_key(sha256, "original" + storage.safe_suffix(original_name or path.name))
    if not storage.exists(original):
        storage.put_file(path, original)

    with transaction.atomic():
        prompt = prompt_get_or_create(project=project, text=prompt_text)
        model = generation_model_get_or_create(project=project, name=model_name)
        try:
            with transaction.atomic():
                video = Video.objects.create(
                    project=project, prompt=prompt, generation_model=model, seed=seed, source=source,
                    original=original, original_name=(original_name or path.name)[:500], sha256=sha256,
                    size_bytes=size, width=info.width, height=info.height, fps=float(info.fps),
                    duration_s=info.duration_s, num_frames=info.num_frames, codec=info.codec, meta=meta or {},
                )
        except IntegrityError:  # the same bytes arrived concurrently
            return Video.objects.get(project=project, sha256=sha256), False
        if not process_now:
            _enqueue_processing(video.pk)
    if process_now:
        video = media.process_video(video=video)
    return video, True
