"""Ranges, choices and help of the fields of the ML config dataclasses: the one place they are written.

A field declared with ``setting(...)`` carries them in its metadata. The command line reads them (cli_config.py:
choices, help), the configs check them when they are built (``check_settings``), and the API and the forms derive
their settings from the same fields (rewardlab/hyperparameters.py), so defaults, types and ranges cannot drift.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def setting(default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING,
            min: float | None = None, max: float | None = None, choices: tuple[str, ...] | None = None,
            help: str = "") -> Any:
    """A dataclass field with its allowed values; ``min``/``max`` are inclusive."""
    metadata = {"min": min, "max": max, "choices": choices, "help": help}
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={k: v for k, v in metadata.items() if v not in (None, "")})


def problem(value: Any, *, min: float | None = None, max: float | None = None,
            choices: tuple[str, ...] | None = None) -> str | None:
    """Why ``value`` is not allowed (None: it is); None means "the default" and passes."""
    if value is None:
        return None
    if choices is not None and value not in choices:
        return f"must be one of {', '.join(choices)}"
    if min is not None and value < min or max is not None and value > max:
        if min is not None and max is not None:
            return f"must be between {min:g} and {max:g}"
        return f"must be at least {min:g}" if min is not None else f"must be at most {max:g}"
    return None


def check_settings(config: Any) -> None:
    """ValueError naming the first field of ``config`` outside its range or choices."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        reason = problem(value, **{k: v for k, v in field.metadata.items() if k != "help"})
        if reason:
            raise ValueError(f"{field.name} {reason}, not {value!r}")
