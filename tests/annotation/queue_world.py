"""Ready videos and pairs for queue, quality and browser tests (tests/factories.py makes the rows).

Real clips (ffmpeg, annotation.synthetic_videos) live under MEDIA_ROOT; many Video rows may share one file.
"""

import random
from pathlib import Path

from django.conf import settings

from annotation.models import Membership, Pair, Project
from annotation.synthetic_videos import make_clip
from tests.factories import MembershipFactory, PairFactory, UserFactory


def clip_key(name: str, **style) -> str:
    """A real H.264 clip under MEDIA_ROOT (made once per test session); returns its storage key."""
    key = f"test-clips/{name}.mp4"
    path = Path(settings.MEDIA_ROOT) / key
    if not path.exists():
        make_clip(path, seconds=1.0, fps=8, width=96, height=64, **style)
    return key


def make_pairs(project: Project, n: int, *, models: tuple[str, str] = ("model-alpha", "model-beta"),
               playback: tuple[str, str] | None = None, target: int | None = None, seed: int = 0) -> list[Pair]:
    """``n`` pairs, one prompt each, video A from models[0] and B from models[1]."""
    rng = random.Random(seed)
    playback = playback or ("missing/a.mp4", "missing/b.mp4")
    return [PairFactory(project=project, model_a=models[0], model_b=models[1], playback_a=playback[0],
                        playback_b=playback[1], target=target or project.overlap, shuffle_key=rng.randrange(2**31))
            for _ in range(n)]


def add_annotators(project: Project, names: list[str]):
    users = [UserFactory(username=name) for name in names]
    for user in users:
        MembershipFactory(project=project, user=user, role=Membership.Role.ANNOTATOR)
    return users
