"""Reads for runs, reward models and their comparison with people."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from django.core.cache import cache
from django.db.models import Max, QuerySet

from annotation.consensus import pair_consensus
from annotation.models import DatasetVersion, Judgment, Pair, Project, Video
from rewardlab.ml.metrics import pairwise_metrics
from rewardlab.models import (
    KIND_MODELS,
    AlignmentRun,
    Generation,
    RewardEval,
    RewardModel,
    Run,
    RunMetric,
    VideoScore,
)

AGREEMENT_CACHE_SECONDS = 600
METRIC_PAGE = 2000  # metric points per progress response; the page asks again until it has them all
LOG_TAIL = 20_000


def runs_list(*, kind: str | None = None, project_id: int | None = None, status: str | None = None) -> QuerySet[Run]:
    """Newest first; with ``kind``, rows of that kind's model (with its own fields)."""
    runs = (KIND_MODELS[kind] if kind else Run).objects.select_related("project", "created_by")
    if project_id:
        runs = runs.filter(project_id=project_id)
    if status:
        runs = runs.filter(status=status)
    return runs.order_by("-created_at", "-id")


def run_typed(run: Run) -> Run:
    """The run as its kind's model (RewardRun, AlignmentRun, ...)."""
    return KIND_MODELS[run.kind].objects.select_related("project", "created_by").get(pk=run.pk)


def run_progress(*, run: Run, after: int = 0) -> dict:
    """What a progress page polls: state, progress, metric points logged after point id ``after``, the log's end."""
    points = list(RunMetric.objects.filter(run=run, id__gt=after).order_by("id").values("id", "phase", "step", "values")[:METRIC_PAGE])
    return {
        "id": run.pk, "kind": run.kind, "status": run.status, "phase": run.phase, "activity": run.activity, "step": run.step,
        "total_steps": run.total_steps, "progress": run.progress, "eta_seconds": run.eta_seconds,
        "last_metrics": run.last_metrics, "attempts": run.attempts, "max_attempts": run.max_attempts,
        "cancel_requested": run.cancel_requested, "device": run.device, "worker_host": run.worker_host,
        "heartbeat_at": run.heartbeat_at, "started_at": run.started_at, "finished_at": run.finished_at,
        "error": run.error, "log_tail": run.log[-LOG_TAIL:], "metrics": points,
        "more_metrics": len(points) == METRIC_PAGE,
    }


def trainable_versions(project_id: int | None = None) -> list[DatasetVersion]:
    """Succeeded versions with a JSONL file (filtered here: SQLite, the dev database, has no JSON containment)."""
    versions = DatasetVersion.objects.filter(status=DatasetVersion.Status.SUCCEEDED)
    if project_id:
        versions = versions.filter(project_id=project_id)
    return [v for v in versions.select_related("project").order_by("project_id", "-number") if "jsonl" in v.formats]


def reward_models(*, project_id: int | None = None) -> QuerySet[RewardModel]:
    models = RewardModel.objects.select_related("project", "source_run")
    return models.filter(project_id=project_id) if project_id else models


def succeeded_alignments(*, project_id: int | None = None, methods: list[str]) -> QuerySet[AlignmentRun]:
    """Alignment runs that finished well with one of ``methods``: the adapters and guides a generation may use."""
    succeeded = runs_list(project_id=project_id, status=Run.Status.SUCCEEDED)
    return AlignmentRun.objects.filter(pk__in=succeeded.values("pk"), method__in=methods)


def evaluations_to_compare(*, ids: list[int] | None = None, project_id: int | None = None,
                           limit: int = 50) -> list[RewardEval]:
    """Succeeded evaluations, newest first: those named by ``ids``, else all (of a project)."""
    evaluations = RewardEval.objects.filter(status=Run.Status.SUCCEEDED)
    if ids:
        evaluations = evaluations.filter(pk__in=ids)
    if project_id is not None:
        evaluations = evaluations.filter(project_id=project_id)
    return list(evaluations.select_related("reward_model", "dataset_version", "project").order_by("-created_at")[:limit])


def active_reward_model(project: Project) -> RewardModel | None:
    return RewardModel.objects.filter(project=project, is_active=True).first()


def reward_model_reading(model: RewardModel) -> dict[str, str] | None:
    """How the checkpoint reads its inputs (mode, positions, frame resize, overall, prompt template), from its
    reward_config.json or released model_config.json; None when the folder cannot be read."""
    from rewardlab.ml.checkpoint import read_any_config

    try:
        return read_any_config(model.checkpoint_dir).describe()
    except (OSError, ValueError):
        return None


def evaluation_table(evaluations: list[RewardEval]) -> dict:
    """Evaluations side by side: one row per evaluation, accuracy with/without ties per dimension; the best
    accuracy without ties of each dimension is flagged."""
    dimensions: list[str] = []
    for evaluation in evaluations:
        for dim in [*evaluation.results.get("dimensions", {}), "overall"]:
            if dim not in dimensions:
                dimensions.append(dim)
    # The projects' order of dimensions (the results are keyed alphabetically); others after, as they came.
    order = list(dict.fromkeys(d["key"] for e in evaluations for d in e.project.dimensions))
    dimensions.sort(key=lambda d: order.index(d) if d in order else len(order))
    rows = []
    for evaluation in evaluations:
        by_dim = {**evaluation.results.get("dimensions", {}), "overall": evaluation.results.get("overall", {})}
        rows.append({"evaluation": evaluation, "cells": [dict(by_dim.get(d) or {}) for d in dimensions]})
    for i in range(len(dimensions)):
        known = [r["cells"][i].get("acc_without_ties") for r in rows if r["cells"][i].get("acc_without_ties") is not None]
        for row in rows:
            row["cells"][i]["best"] = len(rows) > 1 and bool(known) and row["cells"][i].get("acc_without_ties") == max(known)
    # Column heads as the projects name their dimensions ("Visual Quality", not "vq").
    labels = {d["key"]: d.get("label", d["key"]) for e in evaluations for d in e.project.dimensions}
    return {"dimensions": [labels.get(d, d) for d in dimensions], "rows": rows}


def unscored_videos(reward_model: RewardModel) -> QuerySet[Video]:
    """Ready videos of the model's project that it has not scored yet."""
    return (Video.objects.filter(project_id=reward_model.project_id, status=Video.Status.READY)
            .exclude(reward_scores__reward_model=reward_model).select_related("prompt").order_by("pk"))


def human_model_agreement(project: Project) -> dict | None:
    """Per dimension, how often the project's reward model orders a pair's videos like the human consensus.

    Uses the pairs with judgments whose two videos the model has scored (a scoring run fills the scores after
    a promotion). The numbers are those of an evaluation (rewardlab/ml/metrics.py): accuracy without ties
    over human-decided pairs, and tie-calibrated accuracy with ties.
    """
    model = active_reward_model(project)
    if model is None:
        return None
    return {**model_agreement(project, model), "reward_model": model, "unscored_videos": unscored_videos(model).count()}


def model_agreement(project: Project, model: RewardModel) -> dict:
    """``human_model_agreement`` for any of the project's reward models; cached until a judgment or a score is added."""
    latest_judgment = Judgment.objects.filter(pair__project=project).aggregate(n=Max("id"))["n"]
    scored = VideoScore.objects.filter(reward_model=model).count()
    # The model's creation time keeps keys apart across databases that reuse ids (a fresh test database).
    key = f"rewardlab:agreement:{project.pk}:{model.pk}:{model.created_at.timestamp()}:{latest_judgment}:{scored}"
    return cache.get_or_set(key, lambda: _agreement(project, model), AGREEMENT_CACHE_SECONDS)


def _agreement(project: Project, model: RewardModel) -> dict:
    scores = dict(VideoScore.objects.filter(reward_model=model).values_list("video_id", "scores"))
    choices: dict[int, list[dict]] = defaultdict(list)
    for pair_id, made in Judgment.objects.filter(pair__project=project).values_list("pair_id", "choices").iterator():
        choices[pair_id].append(made)
    dimensions = [d for d in project.dimension_keys if d in model.dimensions or d == "overall"]
    labels = {d["key"]: d.get("label") or d["key"] for d in project.dimensions}
    human: dict[str, list[int]] = defaultdict(list)
    diff: dict[str, list[float]] = defaultdict(list)
    sign = {"A": 1, "B": -1, "tie": 0}
    scored_pairs = 0
    for pair in Pair.objects.filter(project=project).select_related("adjudication").iterator(chunk_size=2000):
        a, b = scores.get(pair.video_a_id), scores.get(pair.video_b_id)
        if pair.pk not in choices or a is None or b is None:
            continue
        scored_pairs += 1
        consensus = pair_consensus(choices[pair.pk], dimensions)
        adjudicated = getattr(pair, "adjudication", None)
        if adjudicated is not None:
            consensus.update({d: v for d, v in adjudicated.choices.items() if d in dimensions})
        for dim in dimensions:
            if consensus.get(dim) in sign and dim in a and dim in b:
                human[dim].append(sign[consensus[dim]])
                diff[dim].append(a[dim] - b[dim])
    return {
        "pairs_with_judgments": len(choices), "pairs_scored": scored_pairs,
        "dimensions": [{"key": d, "label": labels.get(d, d), **pairwise_metrics(human[d], diff[d])} for d in dimensions],
    }


def run_output_path(run: Run, relative: str) -> Path | None:
    """A file a run wrote (a generated video), if ``relative`` names one inside the run's output folder."""
    folder = Path(run.output_dir).resolve()
    candidate = (folder / relative).resolve()
    return candidate if candidate.is_relative_to(folder) and candidate.is_file() else None


def generation_videos(generation: Generation) -> list[dict]:
    """The generated videos with the page URL each is played from."""
    folder = Path(generation.output_dir).resolve()
    return [{**video, "url": f"/runs/{generation.pk}/files/{Path(video['path']).resolve().relative_to(folder)}"}
            for video in generation.videos]
