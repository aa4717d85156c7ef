"""The demo: users for each role and a project of synthetic videos, paired and ready to annotate."""

import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from annotation.models import Membership, Project
from annotation.services.ingest import video_ingest
from annotation.services.pairing import pairs_generate
from annotation.synthetic_videos import DEMO_MODELS, make_clip

DEMO_PROJECT = "Demo: four synthetic video models"
DEMO_PROMPTS = {
    "A colourful test card with a sweeping bar and a ticking clock": "testsrc2",
    "A slow zoom into a glowing fractal coastline": "mandelbrot",
    "Golden cells swarming and dying on a deep blue field": "life",
    "A camera pans across a busy test pattern at dusk": "testsrc2",
    "Fractal spirals drifting through space": "mandelbrot",
    "A colony of yellow cells spreading across the screen": "life",
}
DEMO_GUIDELINES = (
    'Watch both videos at least once. For each dimension pick the better video, or "tie" when you cannot tell '
    "them apart.\n\nVisual Quality: judge single frames (noise, blur, artefacts). Motion Quality: judge how things "
    "move (stutter, jumps). Text Alignment: does the video show what the prompt says? Overall: which would you keep?"
)


@dataclass
class DemoResult:
    project: Project
    passwords: dict[str, str]
    videos_created: int
    pairs_created: int


def _user(username: str, *, staff: bool = False) -> tuple[object, str]:
    password = secrets.token_urlsafe(9)
    user, _ = get_user_model().objects.get_or_create(username=username)
    user.is_staff = user.is_superuser = staff
    user.set_password(password)
    user.save()
    return user, password


def demo_create(*, seconds: float = 3.0, size: tuple[int, int] = (320, 192), fps: int = 12, progress=None) -> DemoResult:
    """Idempotent: a second run resets the passwords and adds nothing that already exists."""
    passwords = {}
    with transaction.atomic():
        admin, passwords["admin"] = _user("admin", staff=True)
        manager, passwords["manager"] = _user("manager")
        annotators = []
        for name in ("annotator1", "annotator2", "annotator3"):
            user, passwords[name] = _user(name)
            annotators.append(user)
        project, _ = Project.objects.get_or_create(name=DEMO_PROJECT, defaults={"guidelines": DEMO_GUIDELINES, "created_by": admin})
        Membership.objects.update_or_create(project=project, user=manager, defaults={"role": "manager"})
        for user in annotators:
            Membership.objects.update_or_create(project=project, user=user, defaults={"role": "annotator"})

    created = 0
    width, height = size
    clips = [(p, c, m, s) for p, c in DEMO_PROMPTS.items() for m, s in DEMO_MODELS.items()]
    with tempfile.TemporaryDirectory(prefix="vidpref-demo-") as tmp:
        for i, (prompt, content, model, style) in enumerate(clips):
            style = {"content": content, **style}
            path = make_clip(Path(tmp) / f"{i}.mp4", seconds=seconds, fps=fps, width=width, height=height, seed=i, **style)
            _, new = video_ingest(project=project, path=path, prompt_text=prompt, model_name=model, seed=i,
                                  source="generated", process_now=True)
            created += int(new)
            if progress:
                progress(i + 1, len(clips))
    pairs = pairs_generate(project=project, strategy="all", seed=0)
    return DemoResult(project=project, passwords=passwords, videos_created=created, pairs_created=pairs)
