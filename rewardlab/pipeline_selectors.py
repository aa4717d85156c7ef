"""Reads of a project's pipeline: its settings, audit, executions, and the history the pipeline page charts."""

from __future__ import annotations

from django.db.models import Max, Q, QuerySet

from annotation.models import Judgment, Project
from rewardlab.models import Pipeline, PipelineExecution, RewardModel, VideoScore
from rewardlab.selectors import model_agreement

SECTIONS = ("enabled", "every_judgments", "min_interval_seconds", "dataset", "reward", "gate", "alignment")
HISTORY = 50  # executions the page lists and charts


def pipeline_of(project: Project) -> Pipeline | None:
    return Pipeline.objects.filter(project=project).select_related("updated_by").first()


def executions(project: Project, *, limit: int = HISTORY) -> QuerySet[PipelineExecution]:
    return (PipelineExecution.objects.filter(project=project)
            .select_related("dataset_version", "reward_run", "new_eval", "current_eval", "current_model", "alignment_run")
            .order_by("-number")[:limit])


def pipeline_settings(pipeline: Pipeline) -> dict:
    """The settings as PUT takes them."""
    return {name: getattr(pipeline, name) for name in SECTIONS}


def new_judgments(pipeline: Pipeline) -> tuple[int, int]:
    """(non-gold judgments after the last pipeline version's bound, that bound)."""
    bound = PipelineExecution.objects.filter(project_id=pipeline.project_id).aggregate(m=Max("until_judgment_id"))["m"]
    after = max(pipeline.counted_from_judgment_id, bound or 0)
    count = Judgment.objects.filter(pair__project_id=pipeline.project_id, is_gold=False, id__gt=after).count()
    return count, after


def pipeline_state(project: Project) -> dict | None:
    """The settings, the count towards the next trigger, the latest changes and executions; None: no pipeline."""
    pipeline = pipeline_of(project)
    if pipeline is None:
        return None
    count, after = new_judgments(pipeline)
    return {"pipeline": pipeline, "new_judgments": count, "counted_after_judgment_id": after,
            "changes": list(pipeline.changes.select_related("changed_by")[:20]), "executions": list(executions(project))}


def execution_of_run(run) -> PipelineExecution | None:
    """The pipeline execution that made this run (a step of it), if any."""
    made = Q(reward_run_id=run.pk) | Q(new_eval_id=run.pk) | Q(current_eval_id=run.pk) | Q(alignment_run_id=run.pk)
    return PipelineExecution.objects.filter(made).order_by("-number").first()


def _accuracies(results: dict | None) -> dict | None:
    """{"overall": {"acc_with_ties", "acc_without_ties"}, dim: {...}} of an evaluation's results."""
    if not results:
        return None
    keep = ("acc_with_ties", "acc_without_ties")
    rows = {"overall": results.get("overall") or {}, **(results.get("dimensions") or {})}
    return {key: {k: record.get(k) for k in keep} for key, record in rows.items()}


def pipeline_history(project: Project, runs: list[PipelineExecution]) -> list[dict]:
    """Oldest first, one point per execution that reached its gate: the new and the current model's accuracy on
    the fixed set, and the agreement with the human consensus of the model it promoted (once it scored the
    project's videos)."""
    points = []
    for execution in sorted(runs, key=lambda e: e.number):
        if not execution.decision:
            continue
        agreement = None
        if execution.decision == PipelineExecution.Decision.PROMOTE:
            model = RewardModel.objects.filter(source_run_id=execution.reward_run_id).first()
            if model and VideoScore.objects.filter(reward_model=model).exists():
                agreement = {d["key"]: {k: d.get(k) for k in ("acc_with_ties", "acc_without_ties")}
                             for d in model_agreement(project, model)["dimensions"]}
        points.append({
            "number": execution.number, "decision": execution.decision,
            "new": _accuracies(execution.new_eval.results if execution.new_eval else None),
            "current": _accuracies(execution.current_eval.results if execution.current_eval else None),
            "agreement": agreement,
        })
    return points
