"""Prompt-disjoint train/val/test splits from fractions and a seed (pure functions, no database).

Each prompt's split comes from a hash of the seed and the prompt text alone, so:
- a prompt is never in two splits (every row of a prompt gets the same answer);
- the answer does not depend on row order or on which other prompts exist, so with the same seed and
  fractions a test prompt stays a test prompt in every later dataset version (no leakage across versions);
- fractions hold in expectation, not exactly: a dataset with few prompts can miss a small split.
"""

import hashlib
import math
import re
from collections.abc import Iterable, Mapping

DEFAULT_SPLITS = {"train": 0.8, "val": 0.1, "test": 0.1}
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_TOLERANCE = 1e-6


def validate_fractions(fractions: Mapping[str, float]) -> dict[str, float]:
    """Split names (lower-case identifiers) to fractions in [0, 1] that sum to 1, sorted by name."""
    if not isinstance(fractions, Mapping) or not fractions:
        raise ValueError('splits must be a non-empty object of name -> fraction, e.g. {"train": 0.8, "val": 0.1, "test": 0.1}.')
    cleaned = {}
    for name, fraction in fractions.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"split name {name!r} must be lower-case letters, digits or _, starting with a letter.")
        if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not math.isfinite(fraction):
            raise ValueError(f"split {name!r} needs a number between 0 and 1, not {fraction!r}.")
        if not 0 <= fraction <= 1:
            raise ValueError(f"split {name!r} has fraction {fraction}; each fraction must be between 0 and 1.")
        cleaned[name] = float(fraction)
    total = math.fsum(cleaned.values())
    if abs(total - 1.0) > _TOLERANCE:
        raise ValueError(f"split fractions sum to {total:g}; they must sum to 1 (e.g. 0.8 + 0.1 + 0.1).")
    return dict(sorted(cleaned.items()))


def prompt_unit(prompt: str, seed: int) -> float:
    """A uniform number in [0, 1) fixed by the seed and the prompt text."""
    digest = hashlib.sha256(f"{seed}\x1f{prompt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(prompt: str, fractions: Mapping[str, float], seed: int) -> str:
    """The split of one prompt; ``fractions`` as returned by :func:`validate_fractions`.

    Splits take their share of [0, 1) in name order, whatever order the mapping has (JSON columns in
    PostgreSQL do not keep key order).
    """
    u = prompt_unit(prompt, seed)
    ordered = sorted(fractions.items())
    cumulative = 0.0
    for name, fraction in ordered:
        cumulative += fraction
        if u < cumulative:
            return name
    # Rounding can leave the sum a hair under 1: the last split with any share takes the remainder.
    return next(name for name, fraction in reversed(ordered) if fraction > 0)


def assign_splits(prompts: Iterable[str], fractions: Mapping[str, float], seed: int) -> dict[str, str]:
    """Prompt text -> split name for every distinct prompt."""
    fractions = validate_fractions(fractions)
    return {p: split_of(p, fractions, seed) for p in set(prompts)}
