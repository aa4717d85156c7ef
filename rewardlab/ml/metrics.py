"""Pairwise accuracy of a reward model against human labels, as the VideoAlign paper reports it.

`human` holds +1 (A better), -1 (B better) or 0 (tie) per pair; `diff` holds the model's score_A - score_B.

- Accuracy without ties: human ties are left out; a model difference of exactly 0 counts as wrong.
- Accuracy with ties: the tie-calibrated accuracy of Deutsch et al. 2023 ("Ties Matter"). The model calls a
  tie when |diff| <= ε; with C concordant, D discordant, T_h human-only ties, T_m model-only ties and T_hm ties
  of both, the accuracy is (C + T_hm) / (C + D + T_h + T_m + T_hm), maximised over ε. Two readings:
  - accuracy_with_ties, VideoAlign's calc_accuracy.py exactly (what the paper reports): the pairs sorted by |diff|
    in input order among equals, and every prefix of that order a candidate, also one that ends inside a run of
    equal |diff|, so some pairs with |diff| = ε count as model ties and others not. Equal |diff| are common with
    bf16 rewards, and then the number depends on the order of the pairs.
  - accuracy_with_ties_by_threshold, the definition read literally: a threshold makes every pair with
    |diff| <= ε a model tie, so the number does not depend on the order.
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


def _prefix_scores(human: Sequence[int], diff: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Sort pairs by |diff| (stable: input order among equals) and score each prefix [0, k] as the model's ties:
    (accuracy per k, |diff| per k). Human ties inside count, concordant pairs outside count."""
    h, d = np.asarray(human, dtype=np.int64), np.asarray(diff, dtype=np.float64)
    order = np.argsort(np.abs(d), kind="stable")
    h, d = h[order], d[order]
    correct = (h != 0) & (h * d > 0)
    human_ties_inside = np.cumsum(h == 0)
    correct_outside = correct.sum() - np.cumsum(correct)
    return (human_ties_inside + correct_outside) / len(h), np.abs(d)


def accuracy_with_ties(human: Sequence[int], diff: Sequence[float]) -> tuple[float | None, float | None]:
    """(best tie-calibrated accuracy, its ε) as VideoAlign's calc_accuracy_with_ties computes it; (None, None) for
    no pairs. Every prefix of the stable |diff| order is a candidate (see the module docstring); the first best
    one wins, as calc_accuracy.py keeps the first strictly better accuracy."""
    if len(human) == 0:
        return None, None
    scores, magnitude = _prefix_scores(human, diff)
    best = int(np.argmax(scores))
    return float(scores[best]), float(magnitude[best])


def accuracy_with_ties_by_threshold(human: Sequence[int], diff: Sequence[float]
                                    ) -> tuple[float | None, float | None]:
    """(best tie-calibrated accuracy, its ε) with every pair of |diff| <= ε a model tie: only the last prefix of
    each run of equal |diff| is a threshold, so the result does not depend on the order of the pairs."""
    if len(human) == 0:
        return None, None
    scores, magnitude = _prefix_scores(human, diff)
    last_of_run = np.append(magnitude[1:] != magnitude[:-1], True)
    best = int(np.argmax(scores[last_of_run]))
    return float(scores[last_of_run][best]), float(magnitude[last_of_run][best])


def pairwise_metrics(human: Sequence[int], diff: Sequence[float]) -> dict:
    """The evaluation record of one dimension: accuracy without ties, with ties (VideoAlign's, and the
    order-independent one), their tie thresholds, and the counts."""
    acc_with, epsilon = accuracy_with_ties(human, diff)
    acc_threshold, epsilon_threshold = accuracy_with_ties_by_threshold(human, diff)
    return {
        "acc_without_ties": accuracy_without_ties(human, diff),
        "acc_with_ties": acc_with,  # VideoAlign's calc_accuracy.py
        "tie_threshold": epsilon,
        "acc_with_ties_by_threshold": acc_threshold,  # the same definition, independent of the pairs' order
        "tie_threshold_by_threshold": epsilon_threshold,
        "n_pairs": len(human),
        "n_decided": int(np.count_nonzero(np.asarray(human, dtype=np.int64))),
    }
