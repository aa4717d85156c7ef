"""Base models: the weights runs start from, folders under BASE_MODELS_ROOT (a read-only volume on GPU machines).

A Qwen2-VL folder (``config.json`` of a ``qwen*vl`` model) is a reward base; a diffusers pipeline folder
(``model_index.json``) is a generator. A folder may also hold ``vidpref.json`` with the settings runs on it start
from, ``{"run_defaults": {"reward" | "alignment" | "generation": {setting: value}}}``: the forms show them and the
services apply them under what a person sets (the demo's tiny models use it to keep runs small).
"""

from __future__ import annotations

import json
from pathlib import Path

from config.errors import InvalidInput
from rewardlab import conf


def base_model_kind(path: Path) -> str | None:
    """"reward" for a Qwen2-VL folder, "generator" for a diffusers pipeline, None for anything else."""
    if (path / "model_index.json").is_file():
        return "generator"
    config = path / "config.json"
    if config.is_file():
        try:
            model_type = json.loads(config.read_text()).get("model_type", "")
        except ValueError:
            return None
        return "reward" if "qwen" in model_type and "vl" in model_type else None
    return None


def check_base_model(path: str, *, kind: str, field: str = "base_model_path") -> str:
    """An existing base model folder of the right kind under BASE_MODELS_ROOT; returns its resolved path."""
    root = conf.base_models_root().resolve()
    candidate = Path(path)
    resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if not resolved.is_relative_to(root):
        raise InvalidInput(f"Base models must be under {root} (BASE_MODELS_ROOT); {path!r} is not.", fields={field: ["outside BASE_MODELS_ROOT"]})
    found = base_model_kind(resolved) if resolved.is_dir() else None
    if found != kind:
        wanted = "a Qwen2-VL model folder (config.json)" if kind == "reward" else "a diffusers pipeline folder (model_index.json)"
        raise InvalidInput(f"{resolved} is not {wanted}. Put the weights under {root} and pick them from the list.",
                           fields={field: [f"not a {kind} base model"]})
    return str(resolved)


def available(kind: str) -> list[str]:
    """Folders under BASE_MODELS_ROOT (two levels deep: ``org/name`` like the hub) holding a ``kind`` model."""
    root = conf.base_models_root()
    if not root.is_dir():
        return []
    found = []
    for candidate in sorted([*root.glob("*"), *root.glob("*/*")]):
        if candidate.is_dir() and base_model_kind(candidate) == kind:
            found.append(str(candidate))
    return found


RUN_DEFAULTS_FILE = "vidpref.json"
RUN_KINDS = ("reward", "alignment", "generation")


def _run_defaults_file(path: str) -> dict[str, dict]:
    """{run kind: settings} from the folder's vidpref.json; {} without one."""
    file = Path(path) / RUN_DEFAULTS_FILE
    if not file.is_file():
        return {}
    try:
        by_kind = json.loads(file.read_text()).get("run_defaults", {})
    except (ValueError, AttributeError):
        by_kind = None
    if not isinstance(by_kind, dict) or not all(isinstance(by_kind.get(kind, {}), dict) for kind in RUN_KINDS):
        raise InvalidInput(f"{file} is not {{\"run_defaults\": {{\"<run kind>\": {{...}}}}}}; fix or remove it.",
                           fields={"base_model_path": ["bad vidpref.json"]})
    return by_kind


def run_defaults(path: str, kind: str) -> dict:
    """The settings the base model at ``path`` suggests for runs of ``kind``; {} without a vidpref.json."""
    return _run_defaults_file(path).get(kind, {})


def choices(kind: str) -> list[tuple[str, str]]:
    """(path, name under BASE_MODELS_ROOT) of the available ``kind`` models, for forms: the name is what people
    recognise (``Qwen/Qwen2-VL-2B-Instruct``), the path what the API takes."""
    root = conf.base_models_root()
    return [(path, Path(path).relative_to(root).as_posix()) for path in available(kind)]


def run_defaults_by_path(model_kind: str) -> dict[str, dict[str, dict]]:
    """For the forms: {path: {run kind: settings}} of every available base model of ``model_kind``. A broken
    vidpref.json leaves its model without suggestions here (the page still works); starting a run on it says why."""
    by_path = {}
    for path in available(model_kind):
        try:
            by_path[path] = _run_defaults_file(path)
        except InvalidInput:
            by_path[path] = {}
    return by_path
