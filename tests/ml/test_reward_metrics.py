"""Accuracy with and without ties: on worked examples, against VideoAlign's calc_accuracy.py (re-written below from
its logic) on shuffled inputs with repeated |d|, and the order-free reading against the definition by brute force."""

import random

import pytest

from rewardlab.ml.metrics import (
    accuracy_with_ties,
    accuracy_with_ties_by_threshold,
    accuracy_without_ties,
    pairwise_metrics,
)


def videoalign_calc_accuracy_with_ties(h, m):
    """calc_accuracy.py's calc_accuracy_with_ties: start with no model ties, walk the pairs sorted by |m| (Python's
    stable sort), move each one into the model's ties (removal under the strict test of the previous ε, adding
    under <= the new one), and keep the first strictly better accuracy. Returns (acc, ε)."""
    stat = {"C": 0, "D": 0, "Th": 0, "Tm": 0, "Thm": 0}

    def bucket(hi, mi, eps, strict):
        tie = abs(mi) < eps if strict else abs(mi) <= eps
        if hi == 0:
            return "Thm" if tie else "Th"
        if tie:
            return "Tm"
        return "C" if hi * mi > 0 else "D"

    for hi, mi in zip(h, m, strict=True):
        stat[bucket(hi, mi, -1, False)] += 1
    acc_star, eps_star, eps = float("-inf"), 0, -1
    for hi, mi in sorted(zip(h, m, strict=True), key=lambda x: abs(x[1])):
        stat[bucket(hi, mi, eps, True)] -= 1
        eps = abs(mi)
        stat[bucket(hi, mi, eps, False)] += 1
        acc = (stat["C"] + stat["Thm"]) / sum(stat.values())
        if acc > acc_star:
            acc_star, eps_star = acc, eps
    return acc_star, eps_star


def brute_force_with_ties(human, diff):
    """Deutsch et al. 2023 read literally: try every ε in |diff|, count the five buckets."""
    best = None
    for eps in sorted({abs(d) for d in diff}):
        c = d_ = th = tm = thm = 0
        for h, m in zip(human, diff, strict=True):
            model_tie = abs(m) <= eps
            if h == 0 and model_tie:
                thm += 1
            elif h == 0:
                th += 1
            elif model_tie:
                tm += 1
            elif h * m > 0:
                c += 1
            else:
                d_ += 1
        acc = (c + thm) / (c + d_ + th + tm + thm)
        if best is None or acc > best[0]:
            best = (acc, eps)
    return best


def test_accuracy_without_ties_leaves_human_ties_out():
    human = [1, -1, 0, 1, 0]
    diff = [0.5, 0.2, 9.0, -1.0, -9.0]
    assert accuracy_without_ties(human, diff) == pytest.approx(1 / 3)


def test_an_equal_score_counts_as_wrong_without_ties():
    assert accuracy_without_ties([1, -1], [0.0, -2.0]) == pytest.approx(0.5)


def test_accuracy_without_ties_is_undefined_when_every_pair_is_a_tie():
    assert accuracy_without_ties([0, 0, 0], [1.0, 0.0, -1.0]) is None


def test_with_ties_picks_the_threshold_that_turns_small_gaps_into_ties():
    # two human ties with small gaps, two decided pairs with large gaps of the right sign
    human, diff = [0, 0, 1, -1], [0.1, -0.2, 2.0, -3.0]
    acc, eps = accuracy_with_ties(human, diff)
    assert acc == 1.0
    assert eps == pytest.approx(0.2)


def test_with_ties_counts_a_model_tie_on_a_decided_pair_as_wrong():
    human, diff = [1, 1, 0], [0.5, 2.0, 3.0]
    # ε = 0.5: 1 model tie on a decided pair (wrong), 1 concordant, 1 human tie missed -> 1/3
    # ε = 2.0: 2 wrong model ties, 1 missed -> 0; ε = 3.0: only the human tie is right -> 1/3
    acc, eps = accuracy_with_ties(human, diff)
    assert acc == pytest.approx(1 / 3)
    assert eps == pytest.approx(0.5)


def test_all_ties_are_matched_by_the_largest_threshold():
    acc, eps = accuracy_with_ties([0, 0, 0], [0.3, -1.0, 0.2])
    assert acc == 1.0
    assert eps == pytest.approx(1.0)


def test_equal_gaps_follow_videoalign_in_input_order():
    # both |diff| = 1. calc_accuracy.py counts the prefix that holds only the first of them: with the human tie
    # first, that tie is matched and the decided pair is still concordant -> 1.0; in the other order, 0.5.
    assert accuracy_with_ties([0, 1], [1.0, 1.0]) == (1.0, 1.0)
    assert accuracy_with_ties([1, 0], [1.0, 1.0]) == (0.5, 1.0)
    # a threshold makes both model ties at once: 0.5 in either order
    assert accuracy_with_ties_by_threshold([0, 1], [1.0, 1.0]) == (0.5, 1.0)
    assert accuracy_with_ties_by_threshold([1, 0], [1.0, 1.0]) == (0.5, 1.0)


@pytest.mark.parametrize("seed", range(20))
def test_with_ties_is_calc_accuracy_on_shuffled_inputs_with_repeated_gaps(seed):
    rng = random.Random(seed)
    # bf16-like rewards: few distinct values, so many pairs share |d|, with both signs and zeros
    levels = [0.0, 0.0625, 0.125, 0.1875, 0.25, 0.5]
    pairs = [(rng.choice([-1, 0, 1]), rng.choice([-1, 1]) * rng.choice(levels)) for _ in range(rng.randint(1, 40))]
    for _ in range(5):
        rng.shuffle(pairs)
        human, diff = [h for h, _ in pairs], [d for _, d in pairs]
        assert accuracy_with_ties(human, diff) == videoalign_calc_accuracy_with_ties(human, diff)
        assert accuracy_with_ties_by_threshold(human, diff) == pytest.approx(brute_force_with_ties(human, diff))


def test_the_example_of_calc_accuracy():
    h = [1, -1, 0, 1, -1, 0, 1, -1, 0]
    a = [0.9, -0.7, 0.1, 0.8, -0.6, 0.2, 0.7, -0.5, 0.3]
    b = [0.1, -0.8, 0.5, 0.5, -0.3, 0.3, 0.4, -0.4, 0.4]
    m = [x - y for x, y in zip(a, b, strict=True)]
    assert accuracy_with_ties(h, m) == videoalign_calc_accuracy_with_ties(h, m)
    assert accuracy_without_ties(h, m) == pytest.approx(5 / 6)  # only (-1, +0.1) disagrees


def test_pairwise_metrics_reports_counts_and_handles_no_pairs():
    metrics = pairwise_metrics([1, 0, -1], [1.0, 0.0, 1.0])
    assert metrics["n_pairs"] == 3 and metrics["n_decided"] == 2
    assert metrics["acc_without_ties"] == pytest.approx(0.5)
    empty = pairwise_metrics([], [])
    assert empty == {"acc_without_ties": None, "acc_with_ties": None, "tie_threshold": None,
                     "acc_with_ties_by_threshold": None, "tie_threshold_by_threshold": None,
                     "n_pairs": 0, "n_decided": 0}
