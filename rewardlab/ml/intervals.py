"""Win rates with 95% intervals, pure Python (the web process reads them without torch).

A win rate is the mean outcome (1 a win, 0.5 a tie, 0 a loss). Outcomes come in groups that are not independent
(the three judgments of one pair, the dimensions of one video), so the interval resamples whole groups: a
percentile bootstrap over groups, seeded, so the same outcomes always give the same interval.
"""

from __future__ import annotations

import random

OUTCOME = {"win": 1.0, "tie": 0.5, "loss": 0.0}


def score_outcome(candidate: float, baseline: float) -> float:
    """Two scores compared as an outcome: the higher wins, equal scores tie."""
    return OUTCOME["win"] if candidate > baseline else OUTCOME["tie"] if candidate == baseline else OUTCOME["loss"]


def win_rate(groups: list[list[float]]) -> float | None:
    outcomes = [o for group in groups for o in group]
    return sum(outcomes) / len(outcomes) if outcomes else None


def bootstrap_ci95(groups: list[list[float]], *, rounds: int = 2000, seed: int = 0) -> list[float] | None:
    """[low, high]: the 2.5th and 97.5th percentiles of the win rate over ``rounds`` resamples of the groups
    (with replacement); None without outcomes."""
    groups = [g for g in groups if g]
    if not groups:
        return None
    rng = random.Random(seed)
    sums, counts = [sum(g) for g in groups], [len(g) for g in groups]
    rates = []
    for _ in range(rounds):
        picks = [rng.randrange(len(groups)) for _ in groups]
        rates.append(sum(sums[i] for i in picks) / sum(counts[i] for i in picks))
    rates.sort()
    return [rates[int(0.025 * (rounds - 1))], rates[int(0.975 * (rounds - 1))]]
