"""Ready videos and pairs made directly in the database, for queue, quality and browser tests.

Real clips (ffmpeg, annotation.synthetic_videos) live under MEDIA_ROOT; many Video rows may share one file.
"""

import hashlib
import itertools
import random
import secrets
from pathlib import Path

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from annotation.models import Assignment, GenerationModel, Judgment, Membership, Pair, Project, Prompt, Video
from annotation.synthetic_videos import make_clip

_serial = itertools.count()


def clip_key(name: str, **style) -> str:
    """A real H.264 clip under MEDIA_ROOT (made once per test session); returns its storage key."""
    key = f"test-clips/{name}.mp4"
    path = Path(settings.MEDIA_ROOT) / key
    if not path.exists():
        make_clip(path, seconds=1.0, fps=8, width=96, height=64, **style)
    return key


def ready_video(project: Project, prompt: Prompt, model: str, *, playback: str, fps: float = 8.0) -> Video:
    n = next(_serial)
    return Video.objects.create(
        project=project, prompt=prompt, generation_model=GenerationModel.objects.get_or_create(project=project, name=model)[0],
        status=Video.Status.READY, original=f"originals/{model}-{n}.mp4", original_name=f"{model}-{n}.mp4",
        playback=playback, sha256=secrets.token_hex(32), fps=fps, duration_s=1.0,
    )


def make_pairs(project: Project, n: int, *, models: tuple[str, str] = ("model-alpha", "model-beta"),
               playback: tuple[str, str] | None = None, target: int | None = None, seed: int = 0) -> list[Pair]:
    """``n`` pairs, one prompt each, video A from models[0] and B from models[1]."""
    rng = random.Random(seed)
    playback = playback or ("missing/a.mp4", "missing/b.mp4")
    pairs = []
    for i in range(n):
        text = f"prompt {next(_serial)}-{secrets.token_hex(3)}: a red fox number {i} runs through snow"
        prompt = Prompt.objects.create(project=project, text=text, text_sha256=hashlib.sha256(text.encode()).hexdigest())
        a = ready_video(project, prompt, models[0], playback=playback[0])
        b = ready_video(project, prompt, models[1], playback=playback[1])
        pairs.append(Pair.objects.create(project=project, prompt=prompt, video_a=a, video_b=b,
                                         target=target or project.overlap, shuffle_key=rng.randrange(2**31)))
    return pairs


def add_annotators(project: Project, names: list[str]):
    from tests.conftest import make_user

    users = [make_user(name) for name in names]
    Membership.objects.bulk_create([Membership(project=project, user=u, role="annotator") for u in users])
    return users


def judge(pair: Pair, user, choices: dict[str, str], *, shown_left: str = "A", duration_ms: int | None = 5000) -> Judgment:
    """A submitted assignment and its judgment (canonical choices), as the queue would leave them."""
    now = timezone.now()
    assignment = Assignment.objects.create(pair=pair, annotator=user, status=Assignment.Status.SUBMITTED,
                                           shown_left=shown_left, expires_at=now, finished_at=now)
    Pair.objects.filter(pk=pair.pk).update(done_count=F("done_count") + 1)
    return Judgment.objects.create(pair=pair, assignment=assignment, annotator=user, choices=choices,
                                   shown_left=shown_left, duration_ms=duration_ms, is_gold=pair.is_gold)
