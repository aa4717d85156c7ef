"""Test data as the product makes it (factory_boy).

Rows that ingest and pairing would write (a ready video, a pair of two of them) come from factories, without
running ffmpeg for every one. Judgments go through the front door: a lease on the chosen pair, as the queue's
claim leaves it (an Assignment "leased" and the pair's leased_count + 1), then the real ``assignment_submit``,
which validates the answers, writes the Judgment and moves the counters. A test therefore only sees states the
product can reach.
"""

import hashlib
import random
import secrets
from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone
from factory.django import DjangoModelFactory

from annotation.models import Assignment, GenerationModel, Judgment, Membership, Pair, Project, Prompt, Video
from annotation.services.assignment import assignment_submit, to_shown
from tests.conftest import PASSWORD


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = False

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return model_class.objects.create_user(*args, password=PASSWORD, **kwargs)


class ProjectFactory(DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.ANNOTATOR


class PromptFactory(DjangoModelFactory):
    class Meta:
        model = Prompt
        django_get_or_create = ("project", "text")

    project = factory.SubFactory(ProjectFactory)
    text = factory.Sequence(lambda n: f"prompt {n}-{secrets.token_hex(3)}: a red fox runs through snow")
    text_sha256 = factory.LazyAttribute(lambda o: hashlib.sha256(o.text.encode()).hexdigest())


class GenerationModelFactory(DjangoModelFactory):
    class Meta:
        model = GenerationModel
        django_get_or_create = ("project", "name")

    project = factory.SubFactory(ProjectFactory)
    name = "model-alpha"


class VideoFactory(DjangoModelFactory):
    """A ready video, as ingest leaves one; ``model`` names its generation model, ``playback`` is a storage key
    (a real clip from queue_world.clip_key where a test plays it)."""

    class Meta:
        model = Video

    class Params:
        model = "model-alpha"

    project = factory.SubFactory(ProjectFactory)
    prompt = factory.SubFactory(PromptFactory, project=factory.SelfAttribute("..project"))
    generation_model = factory.SubFactory(GenerationModelFactory, project=factory.SelfAttribute("..project"),
                                          name=factory.SelfAttribute("..model"))
    status = Video.Status.READY
    original = factory.LazyAttributeSequence(lambda o, n: f"originals/{o.model}-{n}.mp4")
    original_name = factory.LazyAttributeSequence(lambda o, n: f"{o.model}-{n}.mp4")
    playback = "missing/a.mp4"
    sha256 = factory.LazyFunction(lambda: secrets.token_hex(32))
    fps = 8.0
    duration_s = 1.0


class PairFactory(DjangoModelFactory):
    """Two ready videos of one new prompt, A from ``model_a`` and B from ``model_b``, needing the project's overlap."""

    class Meta:
        model = Pair

    class Params:
        model_a = "model-alpha"
        model_b = "model-beta"
        playback_a = "missing/a.mp4"
        playback_b = "missing/b.mp4"

    project = factory.SubFactory(ProjectFactory)
    prompt = factory.SubFactory(PromptFactory, project=factory.SelfAttribute("..project"))
    video_a = factory.SubFactory(VideoFactory, project=factory.SelfAttribute("..project"),
                                 prompt=factory.SelfAttribute("..prompt"), model=factory.SelfAttribute("..model_a"),
                                 playback=factory.SelfAttribute("..playback_a"))
    video_b = factory.SubFactory(VideoFactory, project=factory.SelfAttribute("..project"),
                                 prompt=factory.SelfAttribute("..prompt"), model=factory.SelfAttribute("..model_b"),
                                 playback=factory.SelfAttribute("..playback_b"))
    target = factory.LazyAttribute(lambda o: o.project.overlap)
    shuffle_key = factory.LazyFunction(lambda: random.randrange(2**31))


@transaction.atomic
def lease(pair: Pair, annotator, *, shown_left: str = "A") -> Assignment:
    """A live lease of ``pair`` for ``annotator``, as the queue's claim writes it (for a pair the test chooses)."""
    assignment = Assignment.objects.create(pair=pair, annotator=annotator, shown_left=shown_left,
                                           expires_at=timezone.now() + timedelta(seconds=pair.project.lease_seconds))
    Pair.objects.filter(pk=pair.pk).update(leased_count=F("leased_count") + 1)
    return assignment


class JudgmentFactory(factory.Factory):
    """A submitted judgment: ``choices`` in canonical A/B order, answered as the annotator saw them
    (``shown_left`` on the left), through ``assignment_submit``."""

    class Meta:
        model = Judgment

    pair = factory.SubFactory(PairFactory)
    annotator = factory.SubFactory(UserFactory)
    choices = factory.LazyAttribute(lambda o: dict.fromkeys(o.pair.project.dimension_keys, "A"))
    shown_left = "A"
    duration_ms = 5000

    @classmethod
    def _create(cls, model_class, *, pair, annotator, choices, shown_left, duration_ms) -> Judgment:
        assignment = lease(pair, annotator, shown_left=shown_left)
        answers = {dimension: to_shown(outcome, shown_left) for dimension, outcome in choices.items()}
        return assignment_submit(assignment=assignment, annotator=annotator, choices=answers, duration_ms=duration_ms)


class ImportedJudgmentFactory(factory.Factory):
    """A vote from a RewardBench import, written as the import writes it: no annotator, no lease, one more
    judgment on the pair (whose target follows)."""

    class Meta:
        model = Judgment

    pair = factory.SubFactory(PairFactory)
    choices = factory.LazyAttribute(lambda o: dict.fromkeys(o.pair.project.dimension_keys, "A"))

    @classmethod
    @transaction.atomic
    def _create(cls, model_class, *, pair, choices) -> Judgment:
        judgment = Judgment.objects.create(pair=pair, choices=choices, imported=True)
        Pair.objects.filter(pk=pair.pk).update(done_count=F("done_count") + 1,
                                              target=Greatest(F("target"), F("done_count") + 1))
        return judgment
