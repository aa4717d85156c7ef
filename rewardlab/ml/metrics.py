"""Pairwise accuracy of a reward model against human labels, as the VideoAlign paper reports it.

`human` holds +1 (A better), -1 (B better) or 0 (tie) per pair; `diff` holds the model's score_A - score_B.

- Accuracy without ties: human ties are left out; a model difference of exactly 0 counts as wrong.
- Accuracy with ties: the tie-calibrated accuracy of Deutsch et al. 2023 ("Ties Matter"). The model calls a
  tie when |diff| <= ε; with C concordant, D discordant, T_h human-only ties, T_m model-only ties and T_hm ties
  of both, the accuracy is (C + T_hm) / (C + D + T_h + T_m + T_hm). ε is swept over the sorted |diff| values
  and the best accuracy is reported with the ε that first reached it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def accuracy_without_ties(human: Sequence[int], diff: Sequence[float]) -> float | None:
    """Share of human-decided pairs where the model prefers the same video; None when no pair is decided."""
    h, d = np.asarray(human, dtype=np.int64), np.asarray(diff, dtype=np.float64)
    decided = h != 0
    if not decided.any():
        return None
    return float((h[decided] * d[decided] > 0).mean())


def accuracy_with_ties(human: Sequence[int], diff: Sequence[float]) -> tuple[float | None, float | None]:
    """(best tie-calibrated accuracy, its tie threshold ε); (None, None) for no pairs.

    For a threshold ε, a pair scores 1 when it is human-decided, |diff| > ε and the signs agree, or when it
    is a human tie and |diff| <= ε. Sorting by |diff| turns every candidate ε into a prefix of the pairs
    (the model ties), so one pass of cumulative sums scores them all.
    """
    h, d = np.asarray(human, dtype=np.int64), np.asarray(diff, dtype=np.float64)
    n = len(h)
    if n == 0:
        return None, None
    order = np.argsort(np.abs(d), kind="stable")
    h, d = h[order], d[order]
    magnitude = np.abs(d)
    correct = (h != 0) & (h * d > 0)
    # model ties = pairs [0, k]: human ties inside count, concordant pairs outside count
    human_ties_inside = np.cumsum(h == 0)
    correct_outside = correct.sum() - np.cumsum(correct)
    # only the last pair of a run of equal |diff| is a threshold: all of the run is a model tie together
    last_of_run = np.append(magnitude[1:] != magnitude[:-1], True)
    scores = (human_ties_inside + correct_outside)[last_of_run] / n
    best = int(np.argmax(scores))
    return float(scores[best]), float(magnitude[last_of_run][best])


def pairwise_metrics(human: Sequence[int], diff: Sequence[float]) -> dict:
    """The evaluation record of one dimension: both accuracies, the tie threshold and the counts."""
    acc_with, epsilon = accuracy_with_ties(human, diff)
    return {
        "acc_without_ties": accuracy_without_ties(human, diff),
        "acc_with_ties": acc_with,
        "tie_threshold": epsilon,
        "n_pairs": len(human),
        "n_decided": int(np.count_nonzero(np.asarray(human, dtype=np.int64))),
    }
