"""The loop's question answered by people: a Flow-DPO adapter's videos against the base model's on the same prompts
and seeds, judged by three annotators through the real queue, counted per dimension with intervals, next to the
project's reward model on the same pairs."""

import pytest
from django.test import Client

from annotation.models import Judgment, Membership, Pair
from config.celery import app
from rewardlab.models import Generation
from rewardlab.services import runner, submit
from rewardlab.services.reward_models import reward_model_promote
from tests.conftest import client_for, make_user
from tests.rewardlab import world

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]  # trains and generates

TINY_FRAMES = {"num_frames": 1, "height": 32, "width": 64}
TINY_SAMPLING = {"num_frames": 5, "height": 32, "width": 32, "steps": 2, "guidance_scale": 1.0}
# What annotator k answers on every pair (left/right as shown: no one knows which side is the adapter's).
ANSWERS = [{"vq": "left", "mq": "left", "ta": "tie", "overall": "right"},
           {"vq": "left", "mq": "right", "ta": "tie", "overall": "left"},
           {"vq": "right", "mq": "tie", "ta": "tie", "overall": "left"}]


def judge_everything(client, project_id: int, answers: dict) -> None:
    """Take pairs from the queue and submit ``answers`` until the queue has nothing left."""
    while (lease := client.post(f"/api/v1/projects/{project_id}/assignments/next/")).status_code == 200:
        sent = client.post(f"/api/v1/assignments/{lease.json()['id']}/submit/",
                           {"choices": answers, "duration_ms": 4000}, format="json")
        assert sent.status_code == 200, sent.json()
    assert lease.status_code == 204


def counted_in_the_database(pairs, candidate_ids: set[int], dimension: str) -> dict:
    """Wins/ties/losses of the candidate, read straight from the judgment rows."""
    counts = {"wins": 0, "ties": 0, "losses": 0}
    for judgment in Judgment.objects.filter(pair__in=pairs):
        choice = judgment.choices[dimension]
        if choice == "tie":
            counts["ties"] += 1
        else:
            winner = judgment.pair.video_a_id if choice == "A" else judgment.pair.video_b_id
            counts["wins" if winner in candidate_ids else "losses"] += 1
    return counts


def test_people_judge_the_aligned_model_against_its_base_and_the_counts_are_theirs():
    project = world.build_project()
    version = world.export_version(project)
    generator = world.tiny_generator()
    admin = make_user("evaluator", staff=True)
    reward = submit.reward_run_create(created_by=admin, dataset_version=version, base_model_path=str(world.tiny_reward_base()),
                                      dimensions=["vq", "mq"], hyperparameters=world.TINY_REWARD_SETTINGS, enqueue=False)
    assert runner.execute_run(run_id=reward.pk).status == "succeeded"
    reward_model = reward_model_promote(reward_model=reward.reward_model, promoted_by=admin)
    dpo = submit.alignment_run_create(
        created_by=admin, dataset_version=version, method="flow_dpo", base_model_path=str(generator), reward_model=reward_model,
        hyperparameters={"max_steps": 2, "batch_size": 2, "micro_batch_size": 2, "lora_r": 4, "lora_alpha": 8, "lr": 0.05,
                         "win_rate_prompts": 0, **TINY_FRAMES}, enqueue=False)
    assert runner.execute_run(run_id=dpo.pk).status == "succeeded"

    api = client_for(admin)
    response = api.post("/api/v1/generations/", {
        "project": project.pk, "base_model_path": str(generator), "prompts": ["a red ball", "two cats"], "seeds": [0, 1],
        "alignment_run": dpo.pk, "hyperparameters": TINY_SAMPLING}, format="json")
    assert response.status_code == 202, response.json()
    generation = runner.execute_run(run_id=response.json()["id"])
    assert generation.status == "succeeded", generation.error
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True  # the send job runs here, not on a default-queue worker
    try:
        assert api.post(f"/api/v1/generations/{generation.pk}/send/", {}, format="json").status_code == 202
    finally:
        app.conf.task_always_eager = eager
    generation = Generation.objects.get(pk=generation.pk)
    assert generation.round_status == "sent" and generation.round_pair_count == 4, generation.round_message
    # The reward model scores the new videos (the beat task's scoring run, executed here).
    scoring = submit.score_run_create(created_by=None, reward_model=reward_model, enqueue=False)
    assert runner.execute_run(run_id=scoring.pk).status == "succeeded"

    manager, outsider = make_user("round_manager"), make_user("round_annotator_elsewhere")
    Membership.objects.create(project=project, user=manager, role="manager")
    url = f"/api/v1/generations/{generation.pk}/human-eval/"
    before = client_for(manager).get(url).json()
    assert (before["pairs"], before["judged_pairs"]) == (4, 0)
    assert before["dimensions"][0]["win_rate"] is None and before["dimensions"][0]["ci95"] is None

    for k, answers in enumerate(ANSWERS):
        annotator = make_user(f"judge{k}")
        Membership.objects.create(project=project, user=annotator, role="annotator")
        judge_everything(client_for(annotator), project.pk, answers)  # the round's pairs and whatever else is open
        assert Judgment.objects.filter(annotator=annotator, pair__strategy="baseline").count() == 4
        assert client_for(annotator).get(url).status_code == 403
    assert client_for(outsider).get(url).status_code == 404

    result = client_for(manager).get(url).json()
    candidate = f"tiny-wan+flow_dpo-run{dpo.pk}"
    assert (result["candidate"], result["baseline"], result["pairs"], result["judged_pairs"]) == (candidate, "tiny-wan", 4, 4)
    pairs = Pair.objects.filter(pk__in=result["pair_ids"])
    assert {p.strategy for p in pairs} == {"baseline"}
    candidate_ids = {v for p in pairs for v in (p.video_a_id, p.video_b_id) if
                     (p.video_a if v == p.video_a_id else p.video_b).generation_model.name == candidate}
    by_key = {d["key"]: d for d in result["dimensions"]}
    assert list(by_key) == project.dimension_keys
    for key, row in by_key.items():
        counts = counted_in_the_database(pairs, candidate_ids, key)
        assert {k: row[k] for k in counts} == counts and sum(counts.values()) == 12
        assert row["win_rate"] == pytest.approx((counts["wins"] + counts["ties"] / 2) / 12)
        assert 0 <= row["ci95"][0] <= row["win_rate"] <= row["ci95"][1] <= 1
    assert by_key["ta"]["win_rate"] == 0.5 and by_key["ta"]["ci95"] == [0.5, 0.5]  # every judgment a tie
    # The reward model's verdict on the same four pairs, for what it scores; none for what it does not.
    for key in ("vq", "mq", "overall"):
        assert 0 <= by_key[key]["reward_win_rate"] <= 1 and by_key[key]["reward_win_rate"] * 4 % 0.5 == 0
    assert by_key["ta"]["reward_win_rate"] is None and result["reward_model"] == reward_model.pk

    board = client_for(manager).get(f"/api/v1/projects/{project.pk}/leaderboard/?dimension=overall").json()
    assert {candidate, "tiny-wan"} <= {row["model"] for row in board["models"]}  # the new models are ranked too

    pages = Client()
    pages.force_login(admin)
    assert f'href="/runs/?project={project.pk}&amp;reward_model={reward_model.pk}#alignment-run-form">Align with this reward model' \
        in pages.get(f"/runs/{reward.pk}/").content.decode()
    form = pages.get(f"/runs/?project={project.pk}&reward_model={reward_model.pk}").content.decode()
    alignment_form = form[form.index('id="alignment-run-form"'):form.index('id="generation-form"')]
    assert f'<option value="{reward_model.pk}" selected>' in alignment_form
