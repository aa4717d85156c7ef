"""Pair generation: strategies, invariants (never one video twice, never (A,B) and (B,A)), API and CLI."""

import itertools
from collections import Counter

import pytest
from django.core.management import call_command

from annotation.models import GenerationModel, Pair, Video
from annotation.services import pairing
from annotation.services.pairing import pairs_generate, register_strategy
from config.errors import InvalidInput
from tests.factories import GenerationModelFactory, PromptFactory, VideoFactory

pytestmark = pytest.mark.django_db


def add_videos(project, *, prompts: int, models: int, seeds=(None,), status="ready") -> list[Video]:
    """Video rows (no files: pairing reads only rows) for every prompt x model x seed."""
    prompt_rows = [PromptFactory(project=project, text=f"prompt {p}") for p in range(prompts)]
    model_rows = [GenerationModelFactory(project=project, name=f"model-{m}") for m in range(models)]
    return [VideoFactory(project=project, prompt=p, generation_model=m, seed=s, status=status)
            for p, m, s in itertools.product(prompt_rows, model_rows, seeds)]


def assert_invariants(project) -> list[Pair]:
    pairs = list(Pair.objects.filter(project=project).select_related("video_a", "video_b"))
    keys = [frozenset((p.video_a_id, p.video_b_id)) for p in pairs]
    assert len(keys) == len(set(keys)), "no (A,B) and (B,A) twice"
    for p in pairs:
        assert p.video_a_id != p.video_b_id
        assert p.video_a.prompt_id == p.video_b.prompt_id == p.prompt_id
        assert (p.video_a.generation_model_id, p.video_a.seed) != (p.video_b.generation_model_id, p.video_b.seed)
        assert p.target == project.overlap and p.done_count == 0
    return pairs


def model_pair_counts(pairs) -> Counter:
    return Counter(frozenset((p.video_a.generation_model_id, p.video_b.generation_model_id)) for p in pairs)


def test_all_pairs_every_two_models_of_each_prompt_in_random_canonical_order(project_world):
    project = project_world["project"]
    add_videos(project, prompts=5, models=4)
    assert pairs_generate(project=project, strategy="all", seed=1) == 5 * 6
    pairs = assert_invariants(project)
    assert {p.strategy for p in pairs} == {"all"}
    lower_first = sum(p.video_a.generation_model_id < p.video_b.generation_model_id for p in pairs)
    assert 0 < lower_first < len(pairs), "A/B order is not the order the videos came in"
    assert len({p.shuffle_key for p in pairs}) == len(pairs)
    assert pairs_generate(project=project, strategy="all") == 0, "running again adds nothing"


def test_only_ready_videos_of_different_models_or_seeds_are_paired(project_world):
    project = project_world["project"]
    add_videos(project, prompts=1, models=1, seeds=(1, 2, 3))  # one model, three seeds: 3 pairs
    add_videos(project, prompts=1, models=1, seeds=(1,))  # the same model and seed again: pairs with seeds 2, 3 only
    add_videos(project, prompts=1, models=2, status="pending")
    add_videos(project, prompts=1, models=2, status="failed")
    assert pairs_generate(project=project, strategy="all") == 3 + 2
    assert_invariants(project)


def test_an_existing_pair_in_either_order_is_not_made_again(project_world):
    project = project_world["project"]
    a, b, c = add_videos(project, prompts=1, models=3)
    Pair.objects.create(project=project, prompt=a.prompt, video_a=b, video_b=a)
    assert pairs_generate(project=project, strategy="all") == 2
    assert_invariants(project)


def test_random_tops_each_prompt_up_to_per_prompt_reproducibly(project_world):
    project = project_world["project"]
    add_videos(project, prompts=10, models=5)
    assert pairs_generate(project=project, strategy="random", per_prompt=3, seed=7) == 30
    first = {(p.video_a_id, p.video_b_id) for p in assert_invariants(project)}
    assert pairs_generate(project=project, strategy="random", per_prompt=3) == 0, "prompts already have 3"
    assert pairs_generate(project=project, strategy="random", per_prompt=4) == 10
    assert set(Counter(Pair.objects.values_list("prompt_id", flat=True)).values()) == {4}
    Pair.objects.all().delete()
    pairs_generate(project=project, strategy="random", per_prompt=3, seed=7)
    assert {(p.video_a_id, p.video_b_id) for p in Pair.objects.all()} == first, "the same seed, the same pairs"


def test_random_asks_for_per_prompt_and_caps_at_what_exists(project_world):
    project = project_world["project"]
    add_videos(project, prompts=2, models=3)
    with pytest.raises(InvalidInput, match="Strategy 'random' needs per_prompt"):
        pairs_generate(project=project, strategy="random")
    assert pairs_generate(project=project, strategy="random", per_prompt=50) == 2 * 3


def test_balanced_covers_every_model_pair_evenly(project_world):
    project = project_world["project"]
    add_videos(project, prompts=30, models=4)
    assert pairs_generate(project=project, strategy="balanced", per_prompt=2, seed=3) == 60
    counts = model_pair_counts(assert_invariants(project))
    assert len(counts) == 6 and set(counts.values()) == {10}
    per_video = Counter(v for p in Pair.objects.all() for v in (p.video_a_id, p.video_b_id))
    assert max(per_video.values()) == 1, "within a prompt, two pairs use four different videos"


def test_balanced_counts_the_pairs_a_project_already_has(project_world):
    project = project_world["project"]
    add_videos(project, prompts=6, models=3)
    models = list(GenerationModel.objects.order_by("id"))
    assert pairs_generate(project=project, strategy="balanced", per_prompt=1, seed=0) == 6
    assert pairs_generate(project=project, strategy="balanced", per_prompt=2, seed=0) == 6
    counts = model_pair_counts(assert_invariants(project))
    assert set(counts.values()) == {4} and len(counts) == len(list(itertools.combinations(models, 2)))


def test_unknown_strategies_and_bad_per_prompt_are_refused(project_world):
    project = project_world["project"]
    with pytest.raises(InvalidInput, match="Unknown strategy 'best'; choose from all, balanced, random"):
        pairs_generate(project=project, strategy="best")
    with pytest.raises(InvalidInput, match="per_prompt must be between 1 and 1000"):
        pairs_generate(project=project, strategy="random", per_prompt=0)


def test_another_app_registers_a_strategy_without_touching_the_service(project_world):
    project = project_world["project"]
    add_videos(project, prompts=3, models=3)

    @register_strategy("first-two")
    def first_two(context, prompts):
        for prompt in prompts:
            yield prompt.videos[0], prompt.videos[1]
            yield prompt.videos[1], prompt.videos[0]  # a repeat the service drops
            yield prompt.videos[0], prompt.videos[0]  # one video twice: dropped too

    try:
        assert pairs_generate(project=project, strategy="first-two") == 3
        assert {p.strategy for p in assert_invariants(project)} == {"first-two"}
    finally:
        del pairing.STRATEGIES["first-two"]


def test_prompts_are_read_in_chunks_without_missing_any(project_world, monkeypatch):
    monkeypatch.setattr(pairing, "CHUNK_PROMPTS", 3)
    project = project_world["project"]
    add_videos(project, prompts=10, models=3)
    assert pairs_generate(project=project, strategy="all") == 30


@pytest.mark.parametrize("role, status", [("manager", 201), ("admin", 201), ("annotator", 403), ("other_manager", 404)])
def test_the_generate_endpoint(project_world, role, status):
    project = project_world["project"]
    add_videos(project, prompts=2, models=3)
    response = project_world["clients"][role].post(f"/api/v1/projects/{project.pk}/pairs/generate/",
                                                   {"strategy": "random", "per_prompt": 2, "seed": 1}, format="json")
    assert response.status_code == status
    if status == 201:
        assert response.json()["created"] == 4 and "balanced" in response.json()["strategies"]


@pytest.mark.parametrize("body, field", [({"strategy": "nope"}, "strategy"), ({"strategy": "random"}, "per_prompt"),
                                         ({"strategy": "random", "per_prompt": -1}, "per_prompt")])
def test_the_generate_endpoint_explains_bad_requests(project_world, body, field):
    project = project_world["project"]
    response = project_world["clients"]["manager"].post(f"/api/v1/projects/{project.pk}/pairs/generate/", body, format="json")
    assert response.status_code == 400 and field in response.json()["error"]["fields"]


def test_make_pairs_command(project_world, capsys):
    project = project_world["project"]
    add_videos(project, prompts=2, models=2)
    call_command("make_pairs", str(project.pk), "--strategy", "all")
    assert f"2 new pairs (all) in project {project.pk}." in capsys.readouterr().out
