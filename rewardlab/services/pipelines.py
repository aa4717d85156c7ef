"""A project's pipeline: save its settings (audited), fire its trigger, and advance its executions step by step.

Invariants, and what keeps them:
- At most one execution of a project runs and at most one waits: two partial unique constraints on
  PipelineExecution; the trigger and the start take the Pipeline row's lock first, so they queue rather than
  collide.
- An execution's version holds exactly the judgments up to ``until_judgment_id``, set when it starts; the next
  trigger counts the non-gold judgments after the latest such bound (or after ``counted_from_judgment_id``,
  where the pipeline was first saved), so a trigger that fires while an execution runs counts only newer work.
- Each step is an ordinary dataset version or run, made by the services people use; the execution only links
  to it and reads its status. ``execution_advance`` is idempotent and runs under the execution's row lock: the
  worker that finished a step calls it (event-driven), and the beat tick calls it for every running
  execution (the safety net for what no worker reports: a run cancelled while queued, a run the sweeper
  failed after its worker died).
- A step that fails or is cancelled fails the execution with its reason; the waiting execution, if any,
  starts next. Disabling the pipeline stops triggers and waiting executions from starting; the execution in
  progress runs to its end and no run is ever cancelled by the pipeline.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from annotation.models import DatasetVersion, Judgment, Project
from annotation.services.exports import dataset_version_create
from config.errors import ServiceError
from rewardlab.gate import gate_decide
from rewardlab.models import Pipeline, PipelineChange, PipelineExecution, RewardEval, RewardModel, Run
from rewardlab.pipeline_selectors import new_judgments, pipeline_settings
from rewardlab.selectors import active_reward_model
from rewardlab.services import submit
from rewardlab.services.pipeline_settings import pipeline_settings_clean
from rewardlab.services.reward_models import reward_model_promote

log = logging.getLogger(__name__)

Status, Step = PipelineExecution.Status, PipelineExecution.Step


def _last_judgment_id(project_id: int) -> int:
    return Judgment.objects.filter(pair__project_id=project_id).aggregate(m=Max("id"))["m"] or 0


# --- settings -------------------------------------------------------------------------------------------------------

@transaction.atomic
def pipeline_update(*, project: Project, settings: dict, changed_by: AbstractBaseUser) -> Pipeline:
    """Save the whole set of settings (checked as the steps check them) and record what changed, by whom."""
    cleaned = pipeline_settings_clean(project=project, settings=settings)
    pipeline = Pipeline.objects.select_for_update().filter(project=project).first()
    before = pipeline_settings(pipeline) if pipeline else {}
    if pipeline is None:
        # Judgments made before the pipeline existed do not count towards its first trigger.
        pipeline = Pipeline(project=project, counted_from_judgment_id=_last_judgment_id(project.pk))
    for name, value in cleaned.items():
        setattr(pipeline, name, value)
    pipeline.updated_by = changed_by
    pipeline.save()
    changes = {k: {"from": before.get(k), "to": v} for k, v in cleaned.items() if before.get(k) != v}
    if changes:
        PipelineChange.objects.create(pipeline=pipeline, changed_by=changed_by, changes=changes)
    if pipeline.enabled:
        transaction.on_commit(lambda: _start_next(project.pk))
    return pipeline


# --- the trigger ----------------------------------------------------------------------------------------------------

@transaction.atomic
def pipeline_check(*, project_id: int) -> PipelineExecution | None:
    """Fire the trigger if it is due (a waiting execution), then start the waiting execution if none runs."""
    pipeline = Pipeline.objects.select_for_update().filter(project_id=project_id, enabled=True).first()
    if pipeline is None:
        return None
    executions = PipelineExecution.objects.filter(project_id=project_id)
    if not executions.filter(status=Status.WAITING).exists():
        count, after = new_judgments(pipeline)
        last = executions.order_by("-number").first()
        too_soon = last and pipeline.min_interval_seconds and \
            timezone.now() - last.created_at < timedelta(seconds=pipeline.min_interval_seconds)
        if count >= pipeline.every_judgments and not too_soon:
            PipelineExecution.objects.create(
                project_id=project_id, number=(last.number if last else 0) + 1,
                trigger={"new_judgments": count, "after_judgment_id": after, "every_judgments": pipeline.every_judgments,
                         "waited_for": last.number if last and last.status == Status.RUNNING else None})
    return _start_waiting(pipeline)


def _start_next(project_id: int) -> None:
    with transaction.atomic():
        pipeline = Pipeline.objects.select_for_update().filter(project_id=project_id, enabled=True).first()
        if pipeline is not None:
            _start_waiting(pipeline)


def _start_waiting(pipeline: Pipeline) -> PipelineExecution | None:
    """Start the waiting execution when none runs (the caller holds the pipeline's lock)."""
    executions = PipelineExecution.objects.select_for_update().filter(project_id=pipeline.project_id)
    if executions.filter(status=Status.RUNNING).exists():
        return None
    execution = executions.filter(status=Status.WAITING).first()
    if execution is None:
        return None
    execution.status, execution.step, execution.started_at = Status.RUNNING, Step.DATASET, timezone.now()
    execution.until_judgment_id = _last_judgment_id(pipeline.project_id)
    execution.settings = pipeline_settings(pipeline)
    execution.save()
    request = execution.settings["dataset"]
    request = {**request, "name": request.get("name") or f"pipeline execution {execution.number}",
               "filters": {**(request.get("filters") or {}), "until_judgment_id": execution.until_judgment_id}}
    try:
        execution.dataset_version = dataset_version_create(project=pipeline.project, created_by=None, **request)
    except ServiceError as exc:
        _end(execution, Status.FAILED, error=f"dataset version: {exc.message}")
        return execution
    execution.save(update_fields=["dataset_version"])
    return execution


# --- advancing an execution -----------------------------------------------------------------------------------------

def _reason(run: Run) -> str:
    """A run's failure in one line: the last line of its traceback, or its status."""
    lines = [line for line in run.error.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else run.status


def _end(execution: PipelineExecution, status: str, *, error: str = "") -> None:
    execution.status, execution.error, execution.finished_at = status, error, timezone.now()
    execution.save(update_fields=["status", "error", "finished_at"])
    if error:
        log.warning("%s failed: %s", execution, error)
    transaction.on_commit(lambda: _start_next(execution.project_id))


def _after_dataset(execution: PipelineExecution) -> None:
    version = DatasetVersion.objects.get(pk=execution.dataset_version_id)
    if version.status == DatasetVersion.Status.FAILED:
        return _end(execution, Status.FAILED, error=f"dataset version {version.number} failed: {version.error}")
    if version.status != DatasetVersion.Status.SUCCEEDED:  # a lost export worker: the stale-job sweeper's
        return None
    reward = execution.settings["reward"]
    warm_start = active_reward_model(execution.project) if reward["warm_start"] else None
    execution.reward_run = submit.reward_run_create(
        created_by=None, dataset_version=version, base_model_path=reward["base_model_path"], dimensions=reward["dimensions"],
        hyperparameters=reward["hyperparameters"], warm_start=warm_start, name=f"pipeline {execution.number}: reward model")
    execution.step = Step.REWARD
    execution.save(update_fields=["reward_run", "step"])
    return None


def _evaluation(model: RewardModel, gate: dict, number: int) -> RewardEval:
    """The model's evaluation on the gate's fixed set: one already there (in flight or succeeded), else a new one."""
    version = DatasetVersion.objects.filter(pk=gate["dataset_version"]).first() if gate["dataset_version"] else None
    source = submit.eval_source(project_id=model.project_id, dataset_version=version, split=gate["split"],
                                benchmark_csv=gate["benchmark_csv"])
    found = RewardEval.objects.filter(reward_model=model, status__in=[Run.Status.QUEUED, Run.Status.RUNNING, Run.Status.SUCCEEDED],
                                      **source).order_by("-pk").first()
    return found or submit.reward_eval_create(created_by=None, reward_model=model, name=f"pipeline {number}: gate, {model.name}",
                                              **source)


def _after_reward(execution: PipelineExecution) -> None:
    run = execution.reward_run
    run.refresh_from_db()
    if not run.is_terminal:
        return None
    if run.status != Run.Status.SUCCEEDED:
        return _end(execution, Status.FAILED, error=f"reward run {run.pk} {run.status}: {_reason(run)}")
    new_model = RewardModel.objects.get(source_run=run)
    gate = execution.settings["gate"]
    execution.current_model = active_reward_model(execution.project)
    if gate["dataset_version"] or gate["benchmark_csv"]:
        execution.new_eval = _evaluation(new_model, gate, execution.number)
        if execution.current_model:
            execution.current_eval = _evaluation(execution.current_model, gate, execution.number)
    execution.step = Step.EVALUATE
    execution.save(update_fields=["current_model", "new_eval", "current_eval", "step"])
    return _after_evaluate(execution)


def _after_evaluate(execution: PipelineExecution) -> None:
    evaluations = [e for e in (execution.new_eval, execution.current_eval) if e is not None]
    for evaluation in evaluations:
        evaluation.refresh_from_db()
        if evaluation.is_terminal and evaluation.status != Run.Status.SUCCEEDED:
            return _end(execution, Status.FAILED, error=f"evaluation run {evaluation.pk} {evaluation.status}: {_reason(evaluation)}")
    if not all(e.is_terminal for e in evaluations):
        return None
    gate = execution.settings["gate"]
    new_model = RewardModel.objects.get(source_run_id=execution.reward_run_id)
    result = gate_decide(mode=gate["mode"], metric=gate["metric"], margin=gate["margin"], on=gate["on"],
                         new=execution.new_eval.results if execution.new_eval else None,
                         current=execution.current_eval.results if execution.current_eval else None)
    result["has_current_model"] = execution.current_model_id is not None
    execution.decision, execution.gate = result["decision"], result
    execution.save(update_fields=["decision", "gate"])
    if execution.decision != PipelineExecution.Decision.PROMOTE:
        return _end(execution, Status.SUCCEEDED)
    reward_model_promote(reward_model=new_model, promoted_by=None)
    alignment = execution.settings["alignment"]
    if not alignment:
        return _end(execution, Status.SUCCEEDED)
    execution.alignment_run = submit.alignment_run_create(
        created_by=None, dataset_version=execution.dataset_version, method=alignment["method"],
        base_model_path=alignment["base_model_path"], reward_model=new_model, hyperparameters=alignment["hyperparameters"],
        name=f"pipeline {execution.number}: {alignment['method']}")
    execution.step = Step.ALIGN
    execution.save(update_fields=["alignment_run", "step"])
    return None


def _after_align(execution: PipelineExecution) -> None:
    run = execution.alignment_run
    run.refresh_from_db()
    if run.status == Run.Status.SUCCEEDED:
        _end(execution, Status.SUCCEEDED)
    elif run.is_terminal:
        _end(execution, Status.FAILED, error=f"alignment run {run.pk} {run.status}: {_reason(run)}")


ADVANCE = {Step.DATASET: _after_dataset, Step.REWARD: _after_reward, Step.EVALUATE: _after_evaluate, Step.ALIGN: _after_align}


@transaction.atomic
def execution_advance(*, execution_id: int) -> PipelineExecution:
    """Look at the current step; when it is over, make the next one (or end the execution)."""
    execution = PipelineExecution.objects.select_for_update(of=("self",)).select_related("project").get(pk=execution_id)
    if execution.status != Status.RUNNING:
        return execution
    step = execution.step
    try:
        ADVANCE[step](execution)
    except ServiceError as exc:  # the next step's request was refused (a base model gone, a version without rows)
        _end(execution, Status.FAILED, error=f"the step after the {Step(step).label.lower()} could not start: {exc.message}")
    return execution


def pipeline_step_ended(*, run_id: int | None = None, dataset_version_id: int | None = None) -> list[int]:
    """A worker finished a run or a dataset version: advance the running execution that waits for it, at once."""
    linked = Q(dataset_version_id=dataset_version_id) if dataset_version_id else (
        Q(reward_run_id=run_id) | Q(new_eval_id=run_id) | Q(current_eval_id=run_id) | Q(alignment_run_id=run_id))
    ids = list(PipelineExecution.objects.filter(linked, status=Status.RUNNING).values_list("pk", flat=True))
    for execution_id in ids:
        execution_advance(execution_id=execution_id)
    return ids


def pipelines_tick() -> dict[str, list[int]]:
    """The beat's safety net and trigger: advance every running execution, then fire due triggers and start
    waiting executions. Safe to run any number of times at once (row locks)."""
    advanced = [pk for pk in PipelineExecution.objects.filter(status=Status.RUNNING).values_list("pk", flat=True)
                if execution_advance(execution_id=pk)]
    started = []
    for project_id in Pipeline.objects.filter(enabled=True).values_list("project_id", flat=True):
        execution = pipeline_check(project_id=project_id)
        if execution is not None:
            started.append(execution.pk)
    return {"advanced": advanced, "started": started}
