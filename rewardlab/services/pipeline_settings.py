"""A pipeline's settings, checked by the same functions that check the dataset version and the runs it makes
(annotation.services.exports.dataset_version_request_clean, submit.reward_settings, submit.eval_source,
submit.alignment_settings): a setting the pipeline accepts is one its steps accept, and one they refuse is
refused here, when an admin saves it, not hours later on a worker.

What is stored is what the admin asked for (hyperparameters as given, not resolved): each execution resolves
them again when it makes its runs, so a base model's new defaults apply and a vanished base model fails that
execution with the reason.
"""

from __future__ import annotations

from typing import Any

from annotation.models import DatasetVersion, Project
from annotation.services.exports import dataset_version_request_clean
from config.errors import InvalidInput
from rewardlab.gate import METRICS, MODES, ON
from rewardlab.ml.configs import ALIGN_METHODS
from rewardlab.services import submit

DEFAULT_DATASET = {"formats": ["jsonl"], "granularity": "consensus"}


def _prefixed(exc: InvalidInput, section: str) -> InvalidInput:
    """The step's error with its fields named under the pipeline's section (``reward.hyperparameters.lr``)."""
    return InvalidInput(exc.message, code=exc.code, fields={f"{section}.{k}": v for k, v in exc.fields.items()} or
                        {section: [exc.message]})


def _dataset(project: Project, request: dict) -> dict:
    request = {**DEFAULT_DATASET, **request}
    if "until_judgment_id" in (request.get("filters") or {}):
        raise InvalidInput("The pipeline sets until_judgment_id itself (each version holds the judgments up to its start).",
                           fields={"dataset.filters": ["until_judgment_id is set by the pipeline"]})
    try:
        cleaned = dataset_version_request_clean(project=project, **request)
    except InvalidInput as exc:
        raise _prefixed(exc, "dataset") from None
    except TypeError as exc:  # a field the export request does not have
        raise InvalidInput(f"dataset: {exc}.", fields={"dataset": [str(exc)]}) from None
    if "jsonl" not in cleaned["formats"]:
        raise InvalidInput("The reward run trains on the version's JSONL file: add jsonl to dataset.formats.",
                           fields={"dataset.formats": ["must include jsonl"]})
    return request


def _reward(project: Project, request: dict) -> dict:
    warm_start = bool(request.get("warm_start", False))
    try:
        checked = submit.reward_settings(project=project, base_model_path=request.get("base_model_path", ""),
                                         dimensions=request.get("dimensions"), hyperparameters=request.get("hyperparameters"))
    except InvalidInput as exc:
        raise _prefixed(exc, "reward") from None
    return {"base_model_path": checked["base_model_path"], "dimensions": request.get("dimensions") or None,
            "hyperparameters": dict(request.get("hyperparameters") or {}), "warm_start": warm_start}


def _gate(project: Project, request: dict) -> dict:
    gate = {"mode": "beat", "dataset_version": None, "split": "test", "benchmark_csv": "", "metric": "acc_with_ties",
            "margin": 0.0, "on": "overall", **request}
    problems = {}
    if gate["mode"] not in MODES:
        problems["gate.mode"] = [f"must be one of {', '.join(MODES)}"]
    if gate["metric"] not in METRICS:
        problems["gate.metric"] = [f"must be one of {', '.join(METRICS)}"]
    if gate["on"] not in ON:
        problems["gate.on"] = [f"must be one of {', '.join(ON)}"]
    margin = gate["margin"]
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not -1 <= margin <= 1:
        problems["gate.margin"] = ["must be a number between -1 and 1 (a negative margin tolerates a small loss)"]
    if problems:
        raise InvalidInput("The gate's settings are not valid: " + "; ".join(f"{k} {v[0]}" for k, v in problems.items()) + ".",
                           fields=problems)
    if gate["dataset_version"] is None and not gate["benchmark_csv"]:
        if gate["mode"] == "beat":
            raise InvalidInput("The gate compares both models on a fixed set: pick a frozen dataset version (its test split) "
                               "or a VideoGen-RewardBench CSV, or set mode to always or never.",
                               fields={"gate.dataset_version": ["required for mode beat"]})
        return {**gate, "margin": float(margin)}
    version = DatasetVersion.objects.filter(pk=gate["dataset_version"], project=project).first() \
        if gate["dataset_version"] is not None else None
    if gate["dataset_version"] is not None and version is None:
        raise InvalidInput(f"Project {project.pk} has no dataset version with id {gate['dataset_version']}.",
                           fields={"gate.dataset_version": ["not found"]})
    try:
        submit.eval_source(project_id=project.pk, dataset_version=version, split=gate["split"], benchmark_csv=gate["benchmark_csv"])
    except InvalidInput as exc:
        raise _prefixed(exc, "gate") from None
    if version is not None and not ((version.row_counts or {}).get("splits") or {}).get(gate["split"], {}).get("rows"):
        raise InvalidInput(f"Dataset version {version.number} has no {gate['split']!r} rows to evaluate on; pick a version "
                           "exported with that split.", fields={"gate.split": ["empty in this version"]})
    return {**gate, "margin": float(margin)}


def _alignment(project: Project, request: dict | None) -> dict | None:
    if not request:
        return None
    if request.get("method") not in ALIGN_METHODS:
        raise InvalidInput(f"The pipeline aligns with the promoted reward model: method must be one of {', '.join(ALIGN_METHODS)} "
                           "(Flow-NRG trains its own latent reward model; start it from /runs/).",
                           fields={"alignment.method": [f"one of {', '.join(ALIGN_METHODS)}"]})
    try:
        checked = submit.alignment_settings(project=project, method=request.get("method", ""),
                                            base_model_path=request.get("base_model_path", ""),
                                            hyperparameters=request.get("hyperparameters"), with_reward_model=True)
    except InvalidInput as exc:
        raise _prefixed(exc, "alignment") from None
    return {"method": checked["method"], "base_model_path": checked["base_model_path"],
            "hyperparameters": dict(request.get("hyperparameters") or {})}


def pipeline_settings_clean(*, project: Project, settings: dict[str, Any]) -> dict[str, Any]:
    """The settings as a pipeline stores them; InvalidInput names the first section that is wrong."""
    every = settings.get("every_judgments")
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise InvalidInput("every_judgments must be a whole number of at least 1.", fields={"every_judgments": ["at least 1"]})
    interval = settings.get("min_interval_seconds") or 0
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 0:
        raise InvalidInput("min_interval_seconds must be a whole number of seconds, 0 or more.",
                           fields={"min_interval_seconds": ["0 or more"]})
    return {
        "enabled": bool(settings.get("enabled", False)), "every_judgments": every, "min_interval_seconds": interval,
        "dataset": _dataset(project, dict(settings.get("dataset") or {})),
        "reward": _reward(project, dict(settings.get("reward") or {})),
        "gate": _gate(project, dict(settings.get("gate") or {})),
        "alignment": _alignment(project, settings.get("alignment")),
    }
