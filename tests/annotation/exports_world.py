"""A small project for the export tests, built step by step so every expected value is known.

Six prompts, three generation models, eight pairs. The judgments are chosen to hit every consensus case:
a 2-1 majority, an A/B/tie split (a tie), an undecided dimension, an adjudicated pair, a gold pair and an
imported (RewardBench) judgment with no annotator.
"""

import datetime as dt
import hashlib
import shutil
from dataclasses import dataclass, field

from django.conf import settings

from annotation.models import Judgment, Membership, Pair, Project, Video
from annotation.services.adjudication import adjudication_decide
from annotation.services.gold import gold_mark
from tests.conftest import FIXTURES, make_user
from tests.factories import (
    GenerationModelFactory,
    ImportedJudgmentFactory,
    JudgmentFactory,
    MembershipFactory,
    PairFactory,
    ProjectFactory,
    PromptFactory,
    VideoFactory,
)

PROMPTS = [
    "A red fox trots through fresh snow at dawn, breath visible in the cold air.",
    "The camera follows a cyclist down a rainy city street at night, neon reflecting in puddles.",
    "A glass of water tips over on a wooden table in slow motion.",
    "Waves crash against a lighthouse during a storm, seen from a cliff.",
    'A chef flips a pancake; the menu on the wall reads "Open 7-11, café".',  # quotes, a comma, non-ASCII
    "Two kites, one red and one blue, loop around each other over a beach.",
]
MODELS = ["wan-2.1", "ltx-video", "hunyuan"]
CLIPS = ["example_2_A.mp4", "example_3_B.mp4", "example_1_A.mp4"]  # the smallest real clips
T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)

# (prompt index, model index of A, model index of B, gold, {annotator: (choices, shown_left, minutes after T0)})
# Annotators "ann1".."ann3"; None means an imported judgment.
GOLD = {"vq": "A", "mq": "A", "ta": "A", "overall": "A"}
PAIRS = [
    (0, 0, 1, False, {"ann1": ({"vq": "A", "mq": "A", "ta": "B", "overall": "A"}, "A", 1),
                      "ann2": ({"vq": "A", "mq": "B", "ta": "B", "overall": "A"}, "B", 2),
                      "ann3": ({"vq": "B", "mq": "tie", "ta": "B", "overall": "A"}, "A", 3)}),
    (0, 0, 2, False, {"ann1": ({"vq": "A", "mq": "tie", "ta": "A", "overall": "B"}, "B", 4),
                      "ann2": ({"vq": "B", "mq": "A", "ta": "A", "overall": "B"}, "A", 5)}),
    (1, 1, 2, False, {"ann1": ({"vq": "B", "mq": "B", "ta": "tie", "overall": "B"}, "A", 6),
                      "ann2": ({"vq": "B", "mq": "B", "ta": "tie", "overall": "B"}, "B", 7),
                      "ann3": ({"vq": "B", "mq": "B", "ta": "tie", "overall": "B"}, "A", 8)}),
    (2, 0, 1, False, {"ann1": ({"vq": "A", "mq": "B", "ta": "A", "overall": "A"}, "A", 9),
                      "ann3": ({"vq": "B", "mq": "B", "ta": "tie", "overall": "tie"}, "B", 10)}),
    (3, 2, 0, True, {"ann1": (GOLD, "A", 11), "ann2": (GOLD, "B", 12), "ann3": (GOLD, "A", 13)}),
    (4, 1, 0, False, {None: ({"vq": "A", "mq": "B", "ta": "A", "overall": "tie"}, "", 14)}),  # imported
    (5, 0, 1, False, {"ann2": ({"vq": "tie", "mq": "A", "ta": "B", "overall": "A"}, "B", 15),
                      "ann3": ({"vq": "tie", "mq": "A", "ta": "B", "overall": "A"}, "A", 16)}),
    (5, 1, 2, False, {"ann1": ({"vq": "A", "mq": "A", "ta": "A", "overall": "A"}, "A", 17)}),
]
ADJUDICATED = {3: {"vq": "A", "ta": "A"}}  # pair index -> the manager's decision


@dataclass
class World:
    project: Project
    manager: object
    annotators: dict
    pairs: list[Pair]
    videos: dict = field(default_factory=dict)  # (prompt index, model index) -> Video


def _video(project, prompt, model, p: int, m: int, *, with_files: bool) -> Video:
    sha = hashlib.sha256(f"{p}-{m}".encode()).hexdigest()
    key = f"videos/{sha[:2]}/{sha}/playback.mp4"
    if with_files:
        dest = settings.MEDIA_ROOT / key
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(FIXTURES / "videos" / CLIPS[m], dest)
    return VideoFactory(project=project, prompt=prompt, generation_model=model, original=f"originals/{sha}.mov",
                        original_name="", playback=key, sha256=sha, fps=[24.0, 30.0, 23.976][m],
                        num_frames=[121, 150, 97][m], width=640, height=360, duration_s=None)


def build_world(*, with_files: bool = False) -> World:
    """The project; ``with_files`` also stores a real clip for every video (for exports that include videos).

    Judgments go through the queue's services (tests/factories.py), the imported one as the RewardBench import
    writes it; the gold pair is marked and the adjudication decided through their services.
    """
    project = ProjectFactory(name="Exports")
    manager = make_user("export_manager")
    MembershipFactory(project=project, user=manager, role=Membership.Role.MANAGER)
    annotators = {}
    for name in ("ann1", "ann2", "ann3"):
        annotators[name] = make_user(name)
        MembershipFactory(project=project, user=annotators[name], role=Membership.Role.ANNOTATOR)
    prompts = [PromptFactory(project=project, text=t) for t in PROMPTS]
    models = [GenerationModelFactory(project=project, name=n) for n in MODELS]
    world = World(project=project, manager=manager, annotators=annotators, pairs=[])

    def video(p: int, m: int) -> Video:
        if (p, m) not in world.videos:
            world.videos[p, m] = _video(project, prompts[p], models[m], p, m, with_files=with_files)
        return world.videos[p, m]

    for i, (p, a, b, gold, judged) in enumerate(PAIRS):
        pair = PairFactory(project=project, prompt=prompts[p], video_a=video(p, a), video_b=video(p, b), target=3)
        if gold:
            gold_mark(pair=pair, choices=GOLD, created_by=manager)
            pair.refresh_from_db()
        world.pairs.append(pair)
        for who, (choices, shown_left, minutes) in judged.items():
            if who is None:
                judgment = ImportedJudgmentFactory(pair=pair, choices=choices)
            else:
                judgment = JudgmentFactory(pair=pair, annotator=annotators[who], choices=choices,
                                           shown_left=shown_left, duration_ms=1000 * minutes)
            # created_at is auto_now_add: set the known time afterwards.
            Judgment.objects.filter(pk=judgment.pk).update(created_at=T0 + dt.timedelta(minutes=minutes))
        if i in ADJUDICATED:
            adjudication_decide(pair=pair, choices=ADJUDICATED[i], decided_by=manager)
    return world
