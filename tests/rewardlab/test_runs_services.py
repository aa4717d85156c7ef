"""Run lifecycle rules, in this process: the sweeper, duplicate deliveries, lost runs, and the reward model's
place in the project (scores, the uncertainty pair strategy, human–model agreement)."""

import itertools
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from annotation.models import Pair, Project, Video
from annotation.services.pairing import pairs_generate
from config.errors import Conflict, InvalidInput
from rewardlab.ml.metrics import pairwise_metrics
from rewardlab.models import RewardModel, Run, VideoScore
from rewardlab.selectors import human_model_agreement
from rewardlab.services import runner, runs
from rewardlab.services.reward_models import reward_model_promote, reward_models_keep_scored
from rewardlab.services.submit import reward_run_create
from rewardlab.services.uncertainty import score_gap
from tests.conftest import FIXTURES, PASSWORD, client_for, make_user
from tests.rewardlab import world


def running_run(project, *, beat_seconds_ago: float, attempts: int = 1, **fields) -> Run:
    fields = {"worker_host": "gone-host", "worker_pid": 4321, **fields}
    return Run.objects.create(kind="reward_train", project=project, status="running", attempts=attempts, max_attempts=3,
                              task_id="t", heartbeat_at=timezone.now() - timedelta(seconds=beat_seconds_ago), **fields)


@pytest.fixture
def project(db):
    return Project.objects.create(name="Sweep")


def test_the_sweeper_requeues_runs_that_lost_their_worker_fails_those_out_of_attempts_and_resends_forgotten_ones(
        project, django_capture_on_commit_callbacks):
    lost = running_run(project, beat_seconds_ago=600, step=40)
    spent = running_run(project, beat_seconds_ago=600, attempts=3)
    stopping = running_run(project, beat_seconds_ago=600, cancel_requested=True)
    alive = running_run(project, beat_seconds_ago=1)
    forgotten = Run.objects.create(kind="reward_train", project=project, queued_at=timezone.now() - timedelta(hours=2))
    waiting = Run.objects.create(kind="reward_train", project=project, queued_at=timezone.now())

    with django_capture_on_commit_callbacks() as queued:
        swept = runs.runs_sweep(stale_after=90)

    assert swept == {"requeued": [lost.pk], "failed": [spent.pk], "cancelled": [stopping.pk], "resent": [forgotten.pk]}
    lost.refresh_from_db(), spent.refresh_from_db(), stopping.refresh_from_db(), alive.refresh_from_db()
    assert lost.status == "queued" and "requeued to resume from its last checkpoint (attempt 2 of 3)" in lost.log
    assert len(queued) == 2  # their tasks go (back) on the queue once the sweep commits
    assert "its task is sent again" in Run.objects.get(pk=forgotten.pk).log and not Run.objects.get(pk=waiting.pk).log
    assert spent.status == "failed" and spent.finished_at and "used all 3 attempts" in spent.error
    assert stopping.status == "cancelled"
    assert alive.status == "running"


def test_a_second_delivery_of_a_live_run_is_dropped_and_a_dead_workers_run_is_taken_over(project):
    live = running_run(project, beat_seconds_ago=1, worker_host=runs.this_worker()[0], worker_pid=1)  # pid 1 lives
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = running_run(project, beat_seconds_ago=1, worker_host=runs.this_worker()[0], worker_pid=dead.pid)

    assert runs.run_claim(run_id=live.pk, device="cpu") is None
    taken = runs.run_claim(run_id=orphan.pk, device="cpu")

    assert taken.attempts == 2 and taken.worker_pid == runs.this_worker()[1]
    assert f"(pid {dead.pid}) is gone; taking the run over" in Run.objects.get(pk=orphan.pk).log
    finished = Run.objects.create(kind="reward_train", project=project, status="succeeded")
    assert runs.run_claim(run_id=finished.pk, device="cpu") is None


def test_a_worker_that_lost_its_run_can_neither_record_progress_nor_end_it(project):
    run = Run.objects.create(kind="reward_train", project=project, max_attempts=3)
    mine = runs.run_claim(run_id=run.pk, device="cpu")
    Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    runs.runs_sweep(stale_after=60)  # meanwhile the sweeper gave the run away

    assert not runs.run_progress(run_id=run.pk, attempt=mine.attempts, phase="train", step=5, total_steps=10,
                                 progress=0.5, eta_seconds=1.0, points=[{"step": 5, "values": {"loss": 0.1}}])
    assert not runs.run_end(run_id=run.pk, attempt=mine.attempts, status="succeeded", text="done")
    assert Run.objects.get(pk=run.pk).status == "queued" and not run.metrics.exists()


def test_the_uncertainty_strategy_needs_a_project_reward_model_that_has_scored_the_videos(db):
    world_project = world.build_project()
    with pytest.raises(InvalidInput, match="needs the project's reward model"):
        pairs_generate(project=world_project, strategy="uncertainty", per_prompt=2)
    RewardModel.objects.create(project=world_project, name="judge", checkpoint_dir="/x", base_model_path="/y",
                               dimensions=["vq"], is_active=True)
    with pytest.raises(Conflict, match="has not scored 8 of these 8 videos yet"):
        pairs_generate(project=world_project, strategy="uncertainty", per_prompt=2)


def test_progress_of_a_resumed_run_replaces_the_steps_it_replays(project):
    run = runs.run_claim(run_id=Run.objects.create(kind="reward_train", project=project).pk, device="cpu")
    record = dict(run_id=run.pk, attempt=run.attempts, phase="train", total_steps=4, progress=0.5, eta_seconds=None)
    runs.run_progress(step=3, points=[{"step": s, "values": {"loss": 1.0}} for s in (1, 2, 3)], **record)

    runs.run_progress(step=4, points=[{"step": s, "values": {"loss": 0.5}} for s in (3, 4)], **record)

    assert list(run.metrics.values_list("step", "values__loss")) == [(1, 1.0), (2, 1.0), (3, 0.5), (4, 0.5)]


@pytest.mark.slow  # trains and scores
@pytest.mark.django_db(transaction=True)
def test_a_promoted_reward_model_scores_the_project_picks_uncertain_pairs_and_is_compared_with_people():
    project = world.build_project(extra_models=("jittery-v1",))
    version = world.export_version(project)
    admin = make_user("boss", staff=True)
    run = reward_run_create(created_by=admin, dataset_version=version, base_model_path=str(world.tiny_reward_base()),
                            dimensions=["vq", "mq"], hyperparameters=world.TINY_REWARD_SETTINGS, enqueue=False)
    assert runner.execute_run(run_id=run.pk).status == "succeeded"
    model = run.reward_model
    browser = Client()
    browser.login(username="boss", password=PASSWORD)
    page = browser.get(f"/runs/{run.pk}/").content.decode()  # the model's page says how it reads a video
    assert "<dd>videoalign</dd>" in page and "1-D: position i for token i" in page and "torchvision" in page
    assert "&lt;|VQ_reward|&gt;" in page and "sum of the dimensions" in page

    reward_model_promote(reward_model=model, promoted_by=admin)
    scoring = model.score_runs.get()
    assert runner.execute_run(run_id=scoring.pk).status == "succeeded"
    scores = dict(VideoScore.objects.filter(reward_model=model).values_list("video_id", "scores"))
    assert len(scores) == 12 and set(next(iter(scores.values()))) == {"vq", "mq", "overall"}

    # Each prompt has one pair; asking for two gives each prompt the candidate the model is least sure about.
    candidates = {}
    for prompt in project.prompts.all():
        paired = {frozenset(p) for p in Pair.objects.filter(prompt=prompt).values_list("video_a_id", "video_b_id")}
        videos = sorted(prompt.videos.values_list("id", flat=True))
        candidates[prompt.pk] = [frozenset(c) for c in itertools.combinations(videos, 2) if frozenset(c) not in paired]

    def gap(pair: frozenset) -> float:
        a, b = sorted(pair)
        return score_gap(scores[a], scores[b], ["vq", "mq"])

    assert pairs_generate(project=project, strategy="uncertainty", per_prompt=2, seed=0) == 4
    for new in Pair.objects.filter(strategy="uncertainty"):
        assert gap(frozenset((new.video_a_id, new.video_b_id))) == min(gap(c) for c in candidates[new.prompt_id])

    agreement = human_model_agreement(project)
    assert agreement["reward_model"] == model and agreement["pairs_scored"] == agreement["pairs_with_judgments"] == 4
    vq = next(d for d in agreement["dimensions"] if d["key"] == "vq")
    human, diff = [], []
    for pair in Pair.objects.filter(judgments__isnull=False):
        human.append(1 if pair.judgments.get().choices["vq"] == "A" else -1)
        diff.append(scores[pair.video_a_id]["vq"] - scores[pair.video_b_id]["vq"])
    assert vq == {"key": "vq", "label": "Visual Quality", **pairwise_metrics(human, diff)}

    api = client_for(admin)
    video = Video.objects.filter(project=project).first()
    by_id = api.post(f"/api/v1/reward-models/{model.pk}/score/", {"video_id": video.pk}, format="json")
    assert by_id.status_code == 200 and by_id.json()["scores"] == pytest.approx(scores[video.pk])
    path = Path(settings.MEDIA_ROOT) / video.playback
    with path.open("rb") as f:
        uploaded = api.post(f"/api/v1/reward-models/{model.pk}/score/", {"prompt": video.prompt.text, "file": f})
    assert uploaded.status_code == 200 and uploaded.json()["scores"] == pytest.approx(scores[video.pk], abs=1e-4)
    garbage = SimpleUploadedFile("x.mp4", b"not a video")
    refused = api.post(f"/api/v1/reward-models/{model.pk}/score/", {"prompt": "x", "file": garbage})
    assert refused.status_code == 400 and "cannot be scored" in refused.json()["error"]["message"]

    # The real VideoAlign example pairs, as a benchmark CSV under IMPORT_ROOT.
    shutil.copytree(FIXTURES, Path(settings.IMPORT_ROOT) / "videoalign", dirs_exist_ok=True)
    outside = api.post("/api/v1/reward-evals/", {"reward_model": model.pk, "benchmark_csv": "../../etc/passwd"}, format="json")
    assert outside.status_code == 400 and "benchmark_csv" in outside.json()["error"]["fields"]
    started = api.post("/api/v1/reward-evals/", {"reward_model": model.pk, "benchmark_csv": "videoalign/example.csv"}, format="json")
    assert started.status_code == 202, started.json()
    evaluation = runner.execute_run(run_id=started.json()["id"])
    assert evaluation.status == "succeeded", evaluation.error
    results = evaluation.rewardeval.results
    assert set(results["dimensions"]) == {"vq", "mq"} and results["dimensions"]["vq"]["n_pairs"] == 12  # its 12 rows

    # A new video gets scored by the periodic upkeep, once.
    newcomer = Video.objects.create(project=project, prompt=video.prompt, generation_model=video.generation_model,
                                    status="ready", original=video.playback, playback=video.playback, sha256="0" * 64)
    queued = reward_models_keep_scored()
    assert len(queued) == 1 and reward_models_keep_scored() == []
    assert runner.execute_run(run_id=queued[0]).status == "succeeded"
    assert VideoScore.objects.filter(video=newcomer).exists()

    manager = make_user("quality_manager")
    project.memberships.create(user=manager, role="manager")
    page = Client()
    page.login(username=manager.username, password=PASSWORD)
    html = page.get(f"/projects/{project.pk}/quality/").content.decode()
    assert "Human–model agreement" in html and model.name in html
