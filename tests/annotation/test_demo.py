"""The demo leaves a project ready to annotate, and running it twice adds nothing."""

import pytest
from django.contrib.auth import authenticate

from annotation.models import Membership, Pair, Video
from annotation.services.demo import DEMO_PROMPTS, demo_create
from annotation.synthetic_videos import DEMO_MODELS

pytestmark = [pytest.mark.django_db, pytest.mark.slow]  # renders the demo's 24 videos


def test_demo_creates_roles_ready_videos_and_pairs_and_is_idempotent():
    small = dict(seconds=1.0, size=(96, 64), fps=6)
    first = demo_create(**small)
    n_videos = len(DEMO_PROMPTS) * len(DEMO_MODELS)
    assert first.videos_created == n_videos
    assert Video.objects.filter(project=first.project, status="ready").count() == n_videos
    # "all" strategy: every pair of different models per prompt.
    n_models = len(DEMO_MODELS)
    assert first.pairs_created == Pair.objects.filter(project=first.project).count() == len(DEMO_PROMPTS) * n_models * (n_models - 1) // 2
    roles = dict(Membership.objects.filter(project=first.project).values_list("user__username", "role"))
    assert roles == {"manager": "manager", "annotator1": "annotator", "annotator2": "annotator", "annotator3": "annotator"}
    assert authenticate(username="admin", password=first.passwords["admin"]).is_staff

    second = demo_create(**small)
    assert (second.videos_created, second.pairs_created) == (0, 0)
    assert authenticate(username="annotator1", password=second.passwords["annotator1"]) is not None
