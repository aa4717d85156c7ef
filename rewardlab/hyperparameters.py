"""The knobs a run accepts from people, once: the API builds its serializers from these, the pages their forms,
and the services validate with them. Names are the ML config fields they end up in (rewardlab/ml/*Config),
plus ``processes`` (GPUs for one run) and the win-rate settings, which the worker reads itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from config.errors import InvalidInput


@dataclass(frozen=True)
class Param:
    name: str
    type: type  # int | float | str | bool | list | dict
    default: Any = None  # what the form shows; None: the ML config's own default
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    help: str = ""
    on_form: bool = True

    @property
    def kind(self) -> str:
        """The type's name, for forms ("int", "float", ...)."""
        return self.type.__name__


_COMMON_TRAINING = (
    Param("max_steps", int, None, 1, 10_000_000, help="Optimizer steps; overrides epochs."),
    Param("epochs", int, 1, 1, 10_000),
    Param("seed", int, 0, 0, 2**31 - 1),
)
_GPUS = Param("processes", int, 1, 1, 64, help="GPUs for this run (more than 1 launches torchrun on one machine).")

REWARD_TRAIN = (
    *_COMMON_TRAINING,
    Param("batch_size", int, 2, 1, 4096, help="Pairs per micro-batch per GPU."),
    Param("grad_accum", int, 1, 1, 4096),
    Param("lr", float, 2e-6, 0, 1, help="Learning rate (VideoAlign: 2e-6)."),
    Param("warmup_ratio", float, 0.05, 0, 1),
    Param("lora_r", int, 64, 1, 1024),
    Param("lora_alpha", int, 128, 1, 4096),
    Param("vision", str, "full", choices=("full", "frozen", "lora"), help="How the vision tower trains."),
    Param("loss", str, "btt", choices=("btt", "bt"), help="BTT models ties; BT ignores them."),
    Param("theta", float, 5.0, 1.0001, 1000, help="BTT tie parameter θ."),
    Param("fps", float, 2.0, 0.1, 60, help="Frames sampled per second of video."),
    Param("max_pixels", int, 448 * 448, 28 * 28, 4096 * 4096, help="Pixels per frame after resizing."),
    Param("save_every", int, 50, 1, 10_000_000, help="Steps between resumable checkpoints (a lost worker resumes here)."),
    Param("num_workers", int, 0, 0, 64, help="Video-decoding processes.", on_form=False),
    _GPUS,
)

_LATENTS = (
    Param("num_frames", int, 81, 1, 1024, help="Frames per training video (k*4+1 for Wan)."),
    Param("height", int, None, 8, 4096),
    Param("width", int, None, 8, 4096),
    Param("sample_fps", float, 16.0, 0.1, 120),
)

ALIGNMENT = (
    *_COMMON_TRAINING,
    Param("dimension", str, "overall", help="Preference dimension to align on (ignored when weights are given)."),
    Param("weights", dict, None, help="Weighted sum of dimensions, e.g. {\"vq\": 1, \"mq\": 1}.", on_form=False),
    Param("beta", float, 500.0, 0, 1e6, help="Flow-DPO β (paper: 500)."),
    Param("lr", float, 5e-6, 0, 1),
    Param("batch_size", int, 64, 1, 4096),
    Param("micro_batch_size", int, 1, 1, 4096),
    Param("lora_r", int, 64, 1, 1024),
    Param("lora_alpha", int, 128, 1, 4096),
    Param("rwr_tau", float, 1.0, 1e-6, 1e6, help="Flow-RWR temperature."),
    Param("relabel", bool, False, help="Flow-DPO: label pairs with the reward model instead of people.", on_form=False),
    Param("timestep_sampling", str, "uniform", choices=("uniform", "logit_normal")),
    Param("checkpoint_every", int, 50, 1, 10_000_000),
    Param("num_blocks", int, 4, 1, 64, help="Flow-NRG: transformer blocks the latent reward model copies."),
    *_LATENTS,
    Param("win_rate_prompts", int, 8, 0, 10_000, help="Held-out prompts to measure the win rate on (0: skip)."),
    Param("win_rate_seeds", list, [0], help="Seeds per win-rate prompt.", on_form=False),
    Param("sampling", dict, None, help="Win-rate sampling settings: steps, num_frames, height, width, guidance_scale "
          "(the size defaults to the training size above).", on_form=False),
    _GPUS,
)

WAN_SIZE = {"num_frames": 81, "height": 480, "width": 832}  # Wan 2.1's native video size

GENERATION = (
    Param("num_frames", int, WAN_SIZE["num_frames"], 1, 1024),
    Param("height", int, WAN_SIZE["height"], 8, 4096),
    Param("width", int, WAN_SIZE["width"], 8, 4096),
    Param("steps", int, 50, 1, 1000),
    Param("guidance_scale", float, 5.0, 0, 100),
    Param("fps", int, 16, 1, 120),
    Param("nrg_scale", float, 1.0, 0, 1000, help="Flow-NRG guidance strength w."),
    Param("model_name", str, "", help="The name the videos get as a generation model in a project."),
)


def _coerce(param: Param, value: Any) -> Any:
    if param.type is bool:
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if param.type in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError("must be a number")
        if not math.isfinite(float(value)):
            raise ValueError("must be a finite number")
        number = param.type(float(value)) if param.type is int else float(value)
        if param.type is int and float(value) != number:
            raise ValueError("must be a whole number")
        if param.min is not None and number < param.min or param.max is not None and number > param.max:
            raise ValueError(f"must be between {param.min:g} and {param.max:g}")
        return number
    if param.type is str:
        value = str(value)
        if param.choices and value not in param.choices:
            raise ValueError(f"must be one of {', '.join(param.choices)}")
        return value
    if not isinstance(value, param.type):
        raise ValueError(f"must be a JSON {'object' if param.type is dict else 'array'}")
    return value


def clean(params: tuple[Param, ...], values: dict | None) -> dict:
    """The defaults overlaid with ``values``, type-checked; InvalidInput names every bad field."""
    values = values or {}
    by_name = {p.name: p for p in params}
    errors = {f"hyperparameters.{k}": ["unknown setting"] for k in values if k not in by_name}
    cleaned = {p.name: p.default for p in params if p.default is not None}
    for name, value in values.items():
        if name not in by_name or value is None or value == "":
            continue
        try:
            cleaned[name] = _coerce(by_name[name], value)
        except ValueError as exc:
            errors[f"hyperparameters.{name}"] = [str(exc)]
    if errors:
        raise InvalidInput("Some settings are not valid: " + "; ".join(f"{k} {v[0]}" for k, v in errors.items()) + ".",
                           fields=errors)
    return cleaned


def win_rate_sampling(config: dict) -> dict:
    """How an alignment run samples for its win rate: its ``sampling``, over its own training size where set, over
    Wan's native size; the aligned model is judged at the size it learned."""
    trained = {k: config[k] for k in WAN_SIZE if config.get(k)}
    return {**WAN_SIZE, **trained, **(config.get("sampling") or {})}
