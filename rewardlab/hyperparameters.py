"""The knobs a run accepts from people, once: the API builds its serializers from these, the pages their forms,
and the services validate with them.

Every setting that an ML config takes is derived from that config's dataclass field (rewardlab/ml/*Config, with
its range, choices and help from rewardlab/ml/config_fields.py), so the command line (``python -m rewardlab.ml``),
the API and the forms share one default, type and range. Only ``processes`` (GPUs for one run) and the win-rate
settings, which the worker reads itself, are declared here.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

from config.errors import InvalidInput
from rewardlab.ml.config_fields import problem
from rewardlab.ml.configs import AlignConfig, GenerateConfig, LatentRewardTrainConfig, RewardTrainConfig
from rewardlab.ml.prompt_sets import PROMPT_SETS


@dataclass(frozen=True)
class Param:
    name: str
    type: type  # int | float | str | bool | list | dict
    default: Any = None  # what the form shows and a run gets when nobody sets it
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    help: str = ""
    on_form: bool = True
    source: type | None = None  # the ML config dataclass whose field this is (None: VidPref's own setting)

    @property
    def kind(self) -> str:
        """The type's name, for forms ("int", "float", ...)."""
        return self.type.__name__


def derived(config: type, name: str, *, on_form: bool = True) -> Param:
    """The setting ``name`` as the ML config ``config`` declares it: type, default, range, choices, help."""
    field = next(f for f in dataclasses.fields(config) if f.name == name)
    hint = typing.get_type_hints(config)[name]
    if isinstance(hint, types.UnionType):  # `int | None` -> int
        hint = next(t for t in typing.get_args(hint) if t is not type(None))
    default = field.default_factory() if field.default is dataclasses.MISSING else field.default
    meta = field.metadata
    return Param(name, typing.get_origin(hint) or hint, default, meta.get("min"), meta.get("max"),
                 tuple(meta["choices"]) if "choices" in meta else None, meta.get("help", ""), on_form, config)


def _from(config: type, *names: str, hidden: tuple[str, ...] = ()) -> tuple[Param, ...]:
    return tuple(derived(config, name, on_form=name not in hidden) for name in names)


_TRAINING = ("max_steps", "epochs", "seed")
_LATENTS = ("num_frames", "height", "width", "sample_fps")
_GPUS = Param("processes", int, 1, 1, 64, help="GPUs for this run (more than 1 launches torchrun on one machine).")

REWARD_TRAIN = (
    *_from(RewardTrainConfig, *_TRAINING, "batch_size", "grad_accum", "lr", "warmup_ratio", "lora_r", "lora_alpha",
           "vision", "loss", "theta", "fps", "max_pixels", "min_pixels", "positions", "resize", "overall", "save_every",
           "num_workers", hidden=("num_workers", "min_pixels", "positions", "resize", "overall")),
    _GPUS,
)

# Flow-DPO and Flow-RWR (AlignConfig), judged by a reward model's win rate over the base.
ALIGNMENT = (
    *_from(AlignConfig, *_TRAINING, "dimension", "weights", "beta", "lr", "batch_size", "micro_batch_size", "lora_r",
           "lora_alpha", "rwr_tau", "relabel", "timestep_sampling", "checkpoint_every", *_LATENTS,
           hidden=("weights", "relabel")),
    # 50 prompts x 2 seeds: 100 (aligned, base) pairs put a 95% interval within ±0.10 of a win rate near 0.5 (±0.07
    # at 200 pairs); 200 Wan-1.3B videos at 81x480x832, 50 steps with CFG, take 3-5 hours on one H100/H200 (README).
    Param("win_rate_prompts", int, 50, 0, 10_000, help="Held-out prompts to measure the win rate on (0: skip)."),
    Param("win_rate_seeds", list, [0, 1], help="Seeds per win-rate prompt.", on_form=False),
    Param("win_rate_prompt_set", str, "videogen_eval", choices=("dataset", *PROMPT_SETS),
          help="Where win-rate prompts come from: one of the paper's sets (never trained on) or the dataset version's "
               "held-out prompts."),
    Param("sampling", dict, None, help="Win-rate sampling settings: steps, num_frames, height, width, guidance_scale "
          "(the size defaults to the training size above).", on_form=False),
    _GPUS,
)

# Flow-NRG: the latent reward model that guides sampling (LatentRewardTrainConfig); one process.
LATENT_REWARD = _from(LatentRewardTrainConfig, *_TRAINING, "lr", "batch_size", "micro_batch_size", "num_blocks",
                      "timestep_sampling", *_LATENTS)

GENERATION = (
    *_from(GenerateConfig, "num_frames", "height", "width", "steps", "guidance_scale", "fps", "nrg_scale",
           "model_name"),
    Param("baseline", bool, True, help="With an adapter or Flow-NRG, also render the base model's videos for the same "
          "prompts, seeds and settings; sending pairs each video with its baseline."),
)

WAN_SIZE = {p.name: p.default for p in GENERATION if p.name in ("num_frames", "height", "width")}  # Wan 2.1's own


def alignment_params(method: str) -> tuple[Param, ...]:
    return LATENT_REWARD if method == "flow_nrg" else ALIGNMENT


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
        reason = problem(number, min=param.min, max=param.max)
        if reason:
            raise ValueError(reason)
        return number
    if param.type is str:
        value = str(value)
        reason = problem(value, choices=param.choices)
        if reason:
            raise ValueError(reason)
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
