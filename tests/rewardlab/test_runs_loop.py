"""The loop after annotation, run in this process (the worker tests cover the worker): a reward model judges a
Flow-DPO adapter's win rate, Flow-NRG learns its latent reward, a guided generation samples videos, and they go
back to the project as a new annotation round."""

import pytest

from annotation.models import Pair, Video
from config.celery import app
from rewardlab.models import AlignmentRun, Generation
from rewardlab.services import runner, submit
from tests.conftest import client_for, make_user
from tests.rewardlab import world

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]  # trains and generates

TINY_FRAMES = {"num_frames": 1, "height": 32, "width": 64}  # one latent frame of the training clips
TINY_SAMPLING = {"num_frames": 5, "height": 32, "width": 32, "steps": 2, "guidance_scale": 1.0}


def test_alignment_win_rates_guided_generation_and_a_new_round():
    project = world.build_project()
    version = world.export_version(project)
    generator = world.tiny_generator()
    admin = make_user("looper", staff=True)
    reward = submit.reward_run_create(created_by=admin, dataset_version=version, base_model_path=str(world.tiny_reward_base()),
                                      dimensions=["vq", "mq"], hyperparameters=world.TINY_REWARD_SETTINGS, enqueue=False)
    assert runner.execute_run(run_id=reward.pk).status == "succeeded"

    dpo = submit.alignment_run_create(
        created_by=admin, dataset_version=version, method="flow_dpo", base_model_path=str(generator),
        reward_model=reward.reward_model, hyperparameters={"max_steps": 2, "batch_size": 2, "micro_batch_size": 2, "lora_r": 4,
                                                           "lora_alpha": 8, "win_rate_prompts": 2, "sampling": TINY_SAMPLING, **TINY_FRAMES},
        enqueue=False)
    nrg = submit.alignment_run_create(
        created_by=admin, dataset_version=version, method="flow_nrg", base_model_path=str(generator), dimensions=["vq", "mq"],
        hyperparameters={"max_steps": 2, "batch_size": 2, "micro_batch_size": 2, "num_blocks": 1, **TINY_FRAMES}, enqueue=False)
    for run in (dpo, nrg):
        done = runner.execute_run(run_id=run.pk)
        assert done.status == "succeeded", done.error

    dpo, nrg = AlignmentRun.objects.get(pk=dpo.pk), AlignmentRun.objects.get(pk=nrg.pk)
    assert set(dpo.win_rate) == {"vq", "mq", "overall"} and dpo.win_rate_n == 4  # 2 prompts x 2 seeds
    assert all(0 <= rate <= 1 for rate in dpo.win_rate.values())
    assert all(dpo.win_rate_ci95[d][0] <= rate <= dpo.win_rate_ci95[d][1] for d, rate in dpo.win_rate.items())
    assert dpo.adapter_dir.endswith("align/adapter") and nrg.latent_reward_dir and nrg.dimensions == ["vq", "mq"]

    client = client_for(admin)
    response = client.post("/api/v1/generations/", {
        "project": project.pk, "base_model_path": str(generator), "prompts": ["a red ball", "two cats"], "seeds": [0, 1],
        "alignment_run": dpo.pk, "nrg_run": nrg.pk, "nrg_weights": {"vq": 1.5, "mq": -0.5},
        "hyperparameters": {k: v for k, v in TINY_SAMPLING.items()}}, format="json")
    assert response.status_code == 202, response.json()
    generation = runner.execute_run(run_id=response.json()["id"])
    assert generation.status == "succeeded", generation.error
    generation = Generation.objects.get(pk=generation.pk)
    model_name = f"tiny-wan+flow_dpo-run{dpo.pk}+nrg-run{nrg.pk}"
    made = [(v["prompt"], v["seed"]) for v in generation.videos[:4]]
    assert made == [("a red ball", 0), ("a red ball", 1), ("two cats", 0), ("two cats", 1)]
    # The base model's videos of the same prompts and seeds follow, named for how they were made.
    assert [(v["prompt"], v["seed"]) for v in generation.videos[4:]] == made
    assert [(v["model"], v["role"]) for v in generation.videos] == [(model_name, "candidate")] * 4 + [("tiny-wan", "baseline")] * 4

    page = client_for(admin)
    page.force_login(admin)
    html = page.get(f"/runs/{generation.pk}/").content.decode()
    url = html.split('<video src="')[1].split('"')[0]
    assert page.get(url).status_code == 200 and page.get(url, HTTP_RANGE="bytes=0-9").status_code == 206
    assert page.get(f"/runs/{generation.pk}/files/../../../etc/passwd").status_code == 404

    unknown = client.post(f"/api/v1/generations/{generation.pk}/send/", {"strategy": "vibes"}, format="json")
    assert unknown.status_code == 400 and "strategy" in unknown.json()["error"]["fields"]
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True  # the send job runs here, not on a default-queue worker
    try:
        sent = client.post(f"/api/v1/generations/{generation.pk}/send/", {"strategy": "all"}, format="json")
    finally:
        app.conf.task_always_eager = eager

    assert sent.status_code == 202, sent.json()
    generation.refresh_from_db()
    assert generation.round_status == "sent", generation.round_message
    new_videos = Video.objects.filter(pk__in=generation.round_video_ids)
    assert new_videos.count() == 8 and {v.generation_model.name for v in new_videos} == {model_name, "tiny-wan"}
    assert {v.status for v in new_videos} == {"ready"} and {v.source for v in new_videos} == {"generated"}
    # Each candidate meets its baseline (same prompt, same seed); "all" adds every other pair of a prompt's four videos.
    baseline_pairs = Pair.objects.filter(strategy="baseline")
    assert sorted((p.video_a.prompt.text, p.video_a.seed, p.video_b.seed) for p in baseline_pairs) == [
        ("a red ball", 0, 0), ("a red ball", 1, 1), ("two cats", 0, 0), ("two cats", 1, 1)]
    assert all({p.video_a.generation_model.name, p.video_b.generation_model.name} == {model_name, "tiny-wan"}
               for p in baseline_pairs)
    assert Pair.objects.filter(video_a__in=new_videos, video_b__in=new_videos).count() == generation.round_pair_count == 12
    again = client.post(f"/api/v1/generations/{generation.pk}/send/", {}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_sent"
