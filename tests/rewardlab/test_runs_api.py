"""The run API: staff only, what starting a run records, and the errors that say what to do next."""

import shutil

import pytest
from django.test import Client

from annotation.services.exports import dataset_version_create
from rewardlab import conf
from rewardlab.models import RewardModel, RewardRun, Run
from tests.conftest import client_for, make_user
from tests.rewardlab import world

pytestmark = pytest.mark.django_db

RUN_ENDPOINTS = [
    ("get", "/api/v1/runs/"), ("get", "/api/v1/runs/1/progress/"), ("post", "/api/v1/runs/1/cancel/"),
    ("post", "/api/v1/runs/1/resume/"),
    ("get", "/api/v1/reward-runs/"), ("post", "/api/v1/reward-runs/"), ("get", "/api/v1/reward-runs/1/"),
    ("post", "/api/v1/reward-runs/1/cancel/"),
    ("get", "/api/v1/reward-evals/"), ("post", "/api/v1/reward-evals/"), ("get", "/api/v1/reward-evals/1/"),
    ("get", "/api/v1/reward-models/"), ("post", "/api/v1/reward-models/1/promote/"), ("post", "/api/v1/reward-models/1/score/"),
    ("get", "/api/v1/alignment-runs/"), ("post", "/api/v1/alignment-runs/"), ("get", "/api/v1/alignment-runs/1/"),
    ("post", "/api/v1/alignment-runs/1/cancel/"),
    ("get", "/api/v1/generations/"), ("post", "/api/v1/generations/"), ("get", "/api/v1/generations/1/"),
    ("post", "/api/v1/generations/1/send/"),
]


@pytest.fixture
def admin():
    return client_for(make_user("root", staff=True))


def reward_run_body(trained_on, **changes) -> dict:
    return {"dataset_version": trained_on.version.pk, "base_model_path": str(trained_on.base), "dimensions": ["vq", "mq"],
            "hyperparameters": {"max_steps": 3, "lr": 1e-3}, **changes}


@pytest.mark.parametrize("method,url", RUN_ENDPOINTS)
def test_every_run_endpoint_is_for_admins_only(project_world, method, url):
    clients = project_world["clients"]
    for who in ("manager", "annotator", "other_manager"):
        response = getattr(clients[who], method)(url, {}, format="json")
        assert response.status_code == 403, (who, response.content)
        assert response.json()["error"]["code"] == "permission_denied"
    assert getattr(clients["anonymous"], method)(url, {}, format="json").status_code == 401


def test_starting_a_reward_run_queues_it_with_the_settings_it_will_train_with(admin, trained_on):
    response = admin.post("/api/v1/reward-runs/", reward_run_body(trained_on, name="first"), format="json")

    assert response.status_code == 202, response.json()
    body = response.json()
    run = RewardRun.objects.get(pk=body["id"])
    assert body["status"] == run.status == "queued" and body["kind"] == "reward_train"
    assert run.project == trained_on.project and run.dimensions == ["vq", "mq"]
    assert run.config["max_steps"] == 3 and run.config["lr"] == 1e-3 and run.config["loss"] == "btt"  # the rest: defaults
    assert run.output_dir.endswith(f"reward_train-{run.pk}") and run.task_id and run.max_attempts == 3
    assert body["progress_url"] == f"/api/v1/runs/{run.pk}/progress/"
    assert "queued on the gpu-rewardlab-tests queue" in run.log

    listed = admin.get("/api/v1/reward-runs/?status=queued").json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == run.pk
    assert admin.get("/api/v1/reward-runs/?status=running").json()["count"] == 0
    assert admin.get(f"/api/v1/runs/?kind=reward_train&project={run.project_id}").json()["count"] == 1
    assert admin.get("/api/v1/runs/?kind=alignment").json()["count"] == 0
    for bad in ("status=sleeping", "project=abc", "kind=poem"):
        response = admin.get(f"/api/v1/runs/?{bad}")
        assert response.status_code == 400 and bad.split("=")[0] in response.json()["error"]["fields"]
    assert admin.get("/api/v1/runs/abc/progress/").status_code == 404


@pytest.mark.parametrize("changes,field", [
    ({"hyperparameters": {"lr": -1}}, "hyperparameters.lr"),
    ({"hyperparameters": {"vision": "half"}}, "hyperparameters"),
    ({"hyperparameters": {"learning_rate": 0.1}}, "hyperparameters"),
    ({"base_model_path": "/etc"}, "base_model_path"),
    ({"base_model_path": "."}, "base_model_path"),
    ({"dimensions": ["smell"]}, "dimensions"),
])
def test_a_bad_reward_run_request_names_the_field_to_fix(admin, trained_on, changes, field):
    response = admin.post("/api/v1/reward-runs/", reward_run_body(trained_on, **changes), format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"], error
    assert not Run.objects.exists()


def test_a_dataset_version_that_has_not_succeeded_cannot_be_trained_on(admin, trained_on):
    queued = dataset_version_create(project=trained_on.project, created_by=None, formats=["jsonl"], enqueue=False)

    response = admin.post("/api/v1/reward-runs/", reward_run_body(trained_on, dataset_version=queued.pk), format="json")

    error = response.json()["error"]
    assert "is queued; wait for the export to succeed" in error["message"] and "dataset_version" in error["fields"]


def test_cancelling_a_queued_run_ends_it_a_second_cancel_is_a_conflict_and_resume_requeues_it(admin, trained_on):
    run_id = admin.post("/api/v1/reward-runs/", reward_run_body(trained_on), format="json").json()["id"]

    response = admin.post(f"/api/v1/reward-runs/{run_id}/cancel/")

    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    again = admin.post(f"/api/v1/runs/{run_id}/cancel/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "run_finished"
    assert admin.post(f"/api/v1/alignment-runs/{run_id}/cancel/").status_code == 404  # not an alignment run
    assert admin.post(f"/api/v1/runs/{run_id}/resume/").status_code == 202
    assert admin.post(f"/api/v1/runs/{run_id}/resume/").json()["error"]["code"] == "not_resumable"  # queued again


def test_alignment_and_generation_requests_are_checked_before_anything_is_queued(admin, trained_on):
    generator = world.tiny_generator()
    rwr = admin.post("/api/v1/alignment-runs/", {"dataset_version": trained_on.version.pk, "method": "flow_rwr",
                                                 "base_model_path": str(generator)}, format="json")
    assert rwr.status_code == 400 and "reward_model" in rwr.json()["error"]["fields"]
    wrong_base = admin.post("/api/v1/alignment-runs/", {"dataset_version": trained_on.version.pk, "method": "flow_dpo",
                                                        "base_model_path": str(trained_on.base)}, format="json")
    assert "not a diffusers pipeline folder" in wrong_base.json()["error"]["message"]
    unguided = admin.post("/api/v1/generations/", {"project": trained_on.project.pk, "base_model_path": str(generator),
                                                   "prompts": ["a cat"], "nrg_weights": {"vq": 1.0}}, format="json")
    assert unguided.status_code == 400 and "nrg_weights" in unguided.json()["error"]["fields"]
    assert not Run.objects.exists()

    started = admin.post("/api/v1/alignment-runs/", {"dataset_version": trained_on.version.pk, "method": "flow_dpo",
                                                     "base_model_path": str(generator),
                                                     "hyperparameters": {"max_steps": 2, "beta": 100}}, format="json")
    assert started.status_code == 202 and started.json()["method"] == "flow_dpo"
    assert started.json()["config"]["beta"] == 100


def test_runs_start_from_the_base_models_suggested_settings_and_sizes_it_cannot_make_are_refused(admin, trained_on):
    generator = world.tiny_generator()  # make_tiny_models writes its vidpref.json: small videos, few steps
    body = {"project": trained_on.project.pk, "base_model_path": str(generator), "prompts": ["a cat"]}
    started = admin.post("/api/v1/generations/", body, format="json")
    assert started.status_code == 202, started.json()
    config = started.json()["config"]
    assert (config["num_frames"], config["height"], config["width"], config["steps"]) == (9, 32, 32, 8)

    too_wide = admin.post("/api/v1/generations/", {**body, "hyperparameters": {"width": 832}}, format="json").json()
    assert too_wide["error"]["fields"] == {"hyperparameters.width": ["832: this model takes at most 512 (its position "
                                                                     "encoding ends there)"]}
    assert too_wide["error"]["message"].startswith("tiny-wan cannot make videos of that size: width 832")

    judge = RewardModel.objects.create(project=trained_on.project, name="judge", checkpoint_dir="/runs/judge",
                                       base_model_path=str(trained_on.base), dimensions=["vq"])
    alignment = {"dataset_version": trained_on.version.pk, "method": "flow_dpo", "base_model_path": str(generator),
                 "reward_model": judge.pk}
    # The win rate samples at the training size unless told otherwise; here it is told too big a size.
    refused = admin.post("/api/v1/alignment-runs/", {**alignment, "hyperparameters": {"sampling": {"height": 24}}},
                         format="json").json()
    assert refused["error"]["fields"] == {"hyperparameters.sampling": ["24: must be a positive multiple of 16"]}
    aligned = admin.post("/api/v1/alignment-runs/", alignment, format="json")
    assert aligned.status_code == 202 and aligned.json()["config"]["height"] == 32
    assert Run.objects.count() == 2  # the generation and this alignment run; nothing of the refused ones


@pytest.fixture
def broken_generator():
    """A generator folder whose vidpref.json is not what base_models expects (removed afterwards: the folder is
    shared by the session's tests)."""
    folder = conf.base_models_root() / "broken-generator"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_index.json").write_text('{"_class_name": "WanPipeline"}')
    (folder / "vidpref.json").write_text('{"run_defaults": {"generation": [9, 32, 32]}}')
    yield folder
    shutil.rmtree(folder)


def test_a_broken_base_model_folder_is_refused_by_name(admin, trained_on, broken_generator):
    response = admin.post("/api/v1/generations/", {"project": trained_on.project.pk, "prompts": ["a cat"],
                                                   "base_model_path": str(broken_generator)}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["fields"] == {"base_model_path": ["bad vidpref.json"]} and "fix or remove it" in error["message"]
    assert not Run.objects.exists()

    page = Client()
    page.force_login(make_user("page_admin", staff=True))
    assert page.get("/runs/").status_code == 200  # the other models' forms still work

    (broken_generator / "vidpref.json").unlink()  # then it is a pipeline folder without its component configs
    response = admin.post("/api/v1/generations/", {"project": trained_on.project.pk, "prompts": ["a cat"],
                                                   "base_model_path": str(broken_generator)}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"base_model_path": ["not a pipeline we can run"]}
    assert "configs cannot be read" in response.json()["error"]["message"]
    assert not Run.objects.exists()


def test_promoting_a_reward_model_makes_it_the_only_one_of_its_project(admin, trained_on):
    old, new = (RewardModel.objects.create(project=trained_on.project, name=n, checkpoint_dir=f"/runs/{n}",
                                           base_model_path=str(trained_on.base), dimensions=["vq"]) for n in ("old", "new"))
    admin.post(f"/api/v1/reward-models/{old.pk}/promote/")

    response = admin.post(f"/api/v1/reward-models/{new.pk}/promote/")

    assert response.status_code == 200 and response.json()["is_active"]
    assert list(RewardModel.objects.filter(is_active=True)) == [new]
    assert Run.objects.filter(kind="scoring", scorerun__reward_model=new, status="queued").exists()  # its videos get scored


def test_promoting_the_active_reward_model_again_starts_nothing(admin, trained_on):
    model = RewardModel.objects.create(project=trained_on.project, name="m", checkpoint_dir="/runs/m",
                                       base_model_path=str(trained_on.base), dimensions=["vq"])
    first = admin.post(f"/api/v1/reward-models/{model.pk}/promote/").json()
    again = [admin.post(f"/api/v1/reward-models/{model.pk}/promote/") for _ in range(3)]
    assert {r.status_code for r in again} == {200} and {r.json()["promoted_at"] for r in again} == {first["promoted_at"]}
    assert Run.objects.filter(kind="scoring").count() == 1


def test_the_django_admin_lists_runs_with_their_progress_and_cancels_them(trained_on):
    root = make_user("superroot", staff=True)
    root.is_superuser = True
    root.save()
    run = RewardRun.objects.create(kind="reward_train", project=trained_on.project, dataset_version=trained_on.version,
                                   base_model_path=str(trained_on.base), progress=0.42)
    client = Client()
    client.force_login(root)

    listing = client.get("/admin/rewardlab/run/").content.decode()
    assert '<progress max="100" value="42">' in listing
    client.post("/admin/rewardlab/run/", {"action": "cancel_runs", "_selected_action": [run.pk]})
    assert Run.objects.get(pk=run.pk).status == "cancelled"
    assert client.get(f"/admin/rewardlab/rewardrun/{run.pk}/change/").status_code == 200
