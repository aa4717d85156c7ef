"""A project's pipeline on a real Celery worker (CPU, tiny models): annotators' judgments, submitted through the
real service, fire the trigger; the execution exports a version, trains, gates, promotes and aligns with no
other call than the beat's tick; a second trigger waits; a failing step fails only its execution; a killed
worker's step resumes."""

import os
import signal
import subprocess
import sys
import threading
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from annotation.models import DatasetVersion, Membership
from annotation.services.assignment import assignment_next, assignment_submit
from annotation.services.pairing import pairs_generate
from rewardlab.models import AlignmentRun, Pipeline, PipelineExecution, RewardModel, Run
from tests.conftest import REPO, client_for, make_user, start_worker, stop_worker, wait_until
from tests.rewardlab import world
from tests.rewardlab.conftest import QUEUE
from workers.pipelines import pipeline_tick

pytestmark = pytest.mark.django_db(transaction=True)

TINY_DPO = {"max_steps": 2, "batch_size": 2, "micro_batch_size": 2, "lora_r": 4, "lora_alpha": 8, "win_rate_prompts": 0,
            "num_frames": 1, "height": 32, "width": 64}


@pytest.fixture(scope="module")
def pipeline_worker(django_db_setup, django_db_blocker):
    """One worker for exports (default queue) and runs (the tests' run queue); it queues the next steps there too."""
    with django_db_blocker.unblock():
        proc = start_worker(queues=f"default,{QUEUE}", concurrency=1, extra_env={**world.WORKER_ENV, "RUN_QUEUE": QUEUE})
    yield proc
    stop_worker(proc)


@pytest.fixture(autouse=True)
def work_ends_in_the_test_that_started_it(request, transactional_db):  # set up after the database, so it runs before the flush
    """A promotion queues a scoring run of the project's videos. The test that promoted waits for what it started,
    so the module's one worker is free for the next test (a leftover scoring run once held it past the next test's
    deadline)."""
    yield
    if "pipeline_worker" in request.fixturenames:
        wait_until(lambda: not Run.objects.filter(status__in=["queued", "running"]).exists()
                   and not DatasetVersion.objects.filter(status__in=["queued", "running"]).exists(), timeout=300)


@pytest.fixture
def project():
    """The world's project with a third model paired in: twelve pairs, room for the judgments these tests make."""
    project = world.build_project(name="Pipeline", extra_models=("jittery-v1",))
    pairs_generate(project=project, strategy="all")
    return project


def settings_for(project, gate_version, **changes) -> dict:
    settings = {
        "enabled": True, "every_judgments": 3,
        "dataset": {"formats": ["jsonl"], "splits": {"train": 0.5, "test": 0.5}},
        "reward": {"base_model_path": str(world.tiny_reward_base()), "dimensions": ["vq", "mq"],
                   "hyperparameters": world.TINY_REWARD_SETTINGS},
        "gate": {"mode": "beat", "dataset_version": gate_version.pk if gate_version else None, "split": "test", "margin": -1.0},
        "alignment": None,
    }
    for key, value in changes.items():
        settings[key] = {**settings[key], **value} if isinstance(value, dict) and isinstance(settings[key], dict) else value
    return settings


def put(admin, project, settings) -> dict:
    response = client_for(admin).put(f"/api/v1/projects/{project.pk}/pipeline/", settings, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def judge(project, annotator, n: int) -> None:
    """n judgments through the real lease-and-submit service (crisp wins, as the world's people say)."""
    Membership.objects.get_or_create(project=project, user=annotator, defaults={"role": "annotator"})
    for _ in range(n):
        assignment = assignment_next(project=project, annotator=annotator)
        assert assignment is not None, "no pair left to judge"
        crisp_is_a = assignment.pair.video_a.generation_model.name == world.MODELS[0]
        winner = "left" if (assignment.shown_left == "A") == crisp_is_a else "right"
        assignment_submit(assignment=assignment, annotator=annotator, duration_ms=1000,
                          choices={"vq": winner, "mq": winner, "ta": "tie", "overall": winner})


def ended(number: int, project) -> PipelineExecution:
    return wait_until(lambda: PipelineExecution.objects.filter(project=project, number=number,
                                                               status__in=["succeeded", "failed"]).first(), timeout=300)


def test_settings_are_checked_like_the_runs_audited_and_only_staff_change_them(project):
    gate_version = world.export_version(project)
    admin, manager = make_user("pipe-admin", staff=True), make_user("pipe-manager")
    Membership.objects.create(project=project, user=manager, role="manager")
    url = f"/api/v1/projects/{project.pk}/pipeline/"
    assert client_for(manager).get(url).json()["error"]["code"] == "no_pipeline"

    bad = client_for(admin).put(url, settings_for(project, gate_version, reward={"hyperparameters": {"lr": 5}}), format="json")
    assert bad.status_code == 400 and "reward.hyperparameters.lr" in bad.json()["error"]["fields"], bad.json()
    no_set = client_for(admin).put(url, settings_for(project, gate_version, gate={"dataset_version": None}), format="json")
    assert no_set.status_code == 400 and "gate.dataset_version" in no_set.json()["error"]["fields"]
    no_jsonl = client_for(admin).put(url, settings_for(project, gate_version, dataset={"formats": ["csv"]}), format="json")
    assert no_jsonl.status_code == 400 and "dataset.formats" in no_jsonl.json()["error"]["fields"]
    bad_size = client_for(admin).put(url, settings_for(project, gate_version, alignment={
        "method": "flow_dpo", "base_model_path": str(world.tiny_generator()), "hyperparameters": {"height": 30}}), format="json")
    assert bad_size.status_code == 400 and "alignment.hyperparameters.height" in bad_size.json()["error"]["fields"], bad_size.json()

    nrg = client_for(admin).put(url, settings_for(project, gate_version, alignment={
        "method": "flow_nrg", "base_model_path": str(world.tiny_generator())}), format="json")
    assert nrg.status_code == 400 and "alignment.method" in nrg.json()["error"]["fields"]

    put(admin, project, settings_for(project, gate_version))
    forbidden = client_for(manager).put(url, settings_for(project, gate_version, enabled=False), format="json")
    assert forbidden.status_code == 403
    put(admin, project, settings_for(project, gate_version, every_judgments=5))

    state = client_for(manager).get(url).json()
    assert state["every_judgments"] == 5 and state["updated_by"] == "pipe-admin" and state["new_judgments"] == 0
    latest, first = state["changes"]
    assert latest["changed_by"] == "pipe-admin" and latest["changes"] == {"every_judgments": {"from": 3, "to": 5}}
    assert first["changes"]["enabled"] == {"from": None, "to": True}
    assert client_for(make_user("outsider")).get(url).status_code == 404


def test_judgments_train_gate_promote_and_align_and_a_second_trigger_waits(pipeline_worker, project):
    gate_version = world.export_version(project)
    admin, annotators = make_user("pipe-admin", staff=True), [make_user(f"pipe-a{i}") for i in range(3)]
    put(admin, project, settings_for(project, gate_version, alignment={
        "method": "flow_dpo", "base_model_path": str(world.tiny_generator()), "hyperparameters": TINY_DPO}))

    judge(project, annotators[0], 2)
    assert pipeline_tick() == {"advanced": [], "started": []}  # 2 of 3: not yet
    judge(project, annotators[0], 1)
    pipeline_tick()
    first = PipelineExecution.objects.get(project=project, number=1)
    assert first.status == "running" and first.trigger["new_judgments"] == 3 and first.dataset_version is not None

    judge(project, annotators[1], 3)  # while the first runs: the second waits for it
    pipeline_tick()
    second = PipelineExecution.objects.get(project=project, number=2)
    assert second.status == "waiting" and second.trigger["waited_for"] == 1
    # The second execution takes the settings of its start: a strict gate, no alignment.
    put(admin, project, settings_for(project, gate_version, gate={"margin": 1.0}))

    first = ended(1, project)
    assert first.status == "succeeded", first.error
    assert first.dataset_version.status == "succeeded" and first.reward_run.status == "succeeded"
    assert first.new_eval.status == "succeeded" and first.new_eval.dataset_version_id == gate_version.pk
    assert first.decision == "promote" and first.gate["reason"] == "there is no current reward model to beat"
    new_model = RewardModel.objects.get(source_run=first.reward_run)
    dpo = AlignmentRun.objects.get(pk=first.alignment_run_id)
    assert dpo.status == "succeeded" and dpo.method == "flow_dpo" and dpo.reward_model == new_model

    second = ended(2, project)
    assert second.status == "succeeded", second.error
    assert second.until_judgment_id > first.until_judgment_id
    assert second.current_model == new_model and second.current_eval.reward_model == new_model
    assert second.current_eval.dataset_version_id == second.new_eval.dataset_version_id == gate_version.pk
    compared = second.gate["compared"]["overall"]
    assert compared["new"] == second.new_eval.results["overall"]["acc_with_ties"]
    assert compared["current"] == second.current_eval.results["overall"]["acc_with_ties"]
    assert second.decision == "keep" and second.gate["margin"] == 1.0 and second.alignment_run is None
    assert RewardModel.objects.get(project=project, is_active=True) == new_model

    # A gate that tolerates any loss: the third model beats the current one by the margin and replaces it.
    put(admin, project, settings_for(project, gate_version, gate={"margin": -1.0}))
    judge(project, annotators[2], 3)
    pipeline_tick()
    third = ended(3, project)
    assert third.status == "succeeded", third.error
    assert third.current_model == new_model and third.decision == "promote"
    assert third.gate["reason"].startswith("acc_with_ties beats the current model by at least -1.000")
    assert RewardModel.objects.get(project=project, is_active=True).source_run == third.reward_run

    state = client_for(admin).get(f"/api/v1/projects/{project.pk}/pipeline/").json()
    assert [(e["number"], e["status"], e["decision"]) for e in state["executions"]] == [
        (3, "succeeded", "promote"), (2, "succeeded", "keep"), (1, "succeeded", "promote")]
    assert state["executions"][2]["alignment_run"] == {"id": dpo.pk, "status": "succeeded"}
    assert [p["number"] for p in state["history"]] == [1, 2, 3] and state["history"][1]["current"]["overall"] is not None
    page = client_for(admin)
    page.force_login(admin)
    html = page.get(f"/runs/pipeline/{project.pk}/").content.decode()
    assert "there is no current reward model to beat" in html and "<strong>keep</strong>" in html
    assert "Made by <a href" in page.get(f"/runs/{dpo.pk}/").content.decode()


def test_a_step_the_worker_refuses_fails_its_execution_and_the_next_trigger_still_runs(pipeline_worker, project):
    admin, annotator = make_user("pipe-admin", staff=True), make_user("pipe-a")
    # Warm start from a model with another LoRA rank: only the worker, loading the weights, finds out.
    put(admin, project, settings_for(project, world.export_version(project), gate={"mode": "always", "dataset_version": None}))
    judge(project, annotator, 3)
    pipeline_tick()
    assert ended(1, project).status == "succeeded"
    put(admin, project, settings_for(project, None, gate={"mode": "always", "dataset_version": None}, reward={
        "warm_start": True, "hyperparameters": {**world.TINY_REWARD_SETTINGS, "lora_r": 4, "lora_alpha": 8}}))
    judge(project, annotator, 1)
    judge(project, make_user("pipe-b"), 2)
    pipeline_tick()

    failed = ended(2, project)
    assert failed.status == "failed" and failed.reward_run.status == "failed"
    assert failed.error.startswith(f"reward run {failed.reward_run_id} failed: ") and "size mismatch" in failed.error, failed.error
    assert failed.decision == "" and RewardModel.objects.get(is_active=True).source_run_id == PipelineExecution.objects.get(
        project=project, number=1).reward_run_id

    put(admin, project, settings_for(project, None, gate={"mode": "always", "dataset_version": None},
                                     reward={"warm_start": True}))
    judge(project, make_user("pipe-c"), 3)
    pipeline_tick()
    third = ended(3, project)
    assert third.status == "succeeded", third.error
    first_model = RewardModel.objects.get(source_run__pipeline_executions__project=project, source_run__pipeline_executions__number=1)
    assert third.reward_run.config["init_checkpoint"] == first_model.checkpoint_dir  # warm-started from the first


def test_a_worker_killed_mid_step_resumes_the_run_and_the_execution_goes_on(pipeline_worker, project):
    admin, annotator = make_user("pipe-admin", staff=True), make_user("pipe-a")
    put(admin, project, settings_for(project, world.export_version(project), gate={"mode": "never", "dataset_version": None},
                                     reward={"hyperparameters": {**world.TINY_REWARD_SETTINGS, "max_steps": 12}}))
    judge(project, annotator, 3)
    pipeline_tick()
    execution = PipelineExecution.objects.get(project=project, number=1)
    running = wait_until(lambda: Run.objects.filter(pk=PipelineExecution.objects.get(pk=execution.pk).reward_run_id,
                                                    status="running", phase="train", step__gte=3).first(), timeout=120)
    victim = running.worker_pid
    os.kill(victim, signal.SIGKILL)  # the pool process; Celery redelivers the run (acks_late), which resumes
    # Disabling stops new executions, never the step that runs.
    put(admin, project, settings_for(project, None, enabled=False, gate={"mode": "never", "dataset_version": None}))

    execution = ended(1, project)
    assert execution.status == "succeeded", execution.error
    assert execution.reward_run.attempts == 2 and "resuming from its last checkpoint" in execution.reward_run.log
    assert execution.decision == "keep" and execution.gate["reason"].startswith("the gate is set to never promote")
    assert not RewardModel.objects.filter(project=project, is_active=True).exists()
    judge(project, make_user("pipe-b"), 3)
    assert pipeline_tick()["started"] == [] and PipelineExecution.objects.filter(project=project).count() == 1


def test_demo_pipeline_sets_up_thirty_judgments_a_frozen_test_split_and_flow_dpo(project):
    make_user("demo-admin", staff=True)
    call_command("demo_pipeline", project=project.pk, stdout=StringIO())

    pipeline = Pipeline.objects.get(project=project)
    gate_version = DatasetVersion.objects.get(pk=pipeline.gate["dataset_version"])
    assert pipeline.enabled and pipeline.every_judgments == 30 and pipeline.alignment["method"] == "flow_dpo"
    assert gate_version.status == "succeeded" and gate_version.row_counts["splits"]["test"]["rows"] > 0
    assert pipeline.changes.get().changed_by.username == "demo-admin"
    with pytest.raises(CommandError, match="run `python manage.py demo` first"):
        call_command("demo_pipeline", project=project.pk + 1000)


def test_concurrent_ticks_start_one_execution(project):
    admin, annotator = make_user("pipe-admin", staff=True), make_user("pipe-a")
    put(admin, project, settings_for(project, None, gate={"mode": "never", "dataset_version": None}))
    judge(project, annotator, 3)
    start, failures = threading.Barrier(4), []

    def beat():  # four beat processes at once, as far as the database can tell: each its own connection
        try:
            start.wait()
            pipeline_tick()
        except Exception as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert failures == []
    assert list(PipelineExecution.objects.filter(project=project).values_list("number", "status")) == [(1, "running")]
    assert DatasetVersion.objects.filter(project=project, name="pipeline execution 1").count() == 1


def test_celery_beat_alone_turns_new_judgments_into_a_finished_execution(pipeline_worker, project):
    admin, annotator = make_user("pipe-admin", staff=True), make_user("pipe-a")
    put(admin, project, settings_for(project, None, gate={"mode": "never", "dataset_version": None}))
    db = settings.DATABASES["default"]
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "DJANGO_SETTINGS_MODULE": "config.settings_test", "PIPELINE_TICK_SECONDS": "0.5"}
    beat = subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "warning", "--max-interval", "1",
                             "-s", str(Path(settings.DATA_DIR) / "pipeline-test-beat")], env=env, cwd=REPO, start_new_session=True)
    try:
        judge(project, annotator, 3)  # and nothing else: the beat's tick fires the trigger
        execution = wait_until(lambda: beat.poll() is not None or PipelineExecution.objects.filter(
            project=project, status__in=["succeeded", "failed"]).first(), timeout=300)
        assert beat.poll() is None, "celery beat exited"
    finally:
        stop_worker(beat)
    assert execution.status == "succeeded", execution.error
    assert execution.trigger["new_judgments"] == 3 and execution.reward_run.status == "succeeded"
