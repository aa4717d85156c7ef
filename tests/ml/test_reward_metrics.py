"""Accuracy with and without ties, on worked examples and against the definitions by brute force."""

import random

import pytest

from rewardlab.ml.metrics import accuracy_with_ties, accuracy_without_ties, pairwise_metrics


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


def test_equal_gaps_become_ties_together():
    # both |diff| = 1: a threshold of 1 makes both model ties, never just one of them
    acc, eps = accuracy_with_ties([0, 1], [1.0, -1.0])
    assert acc == pytest.approx(0.5)
    assert eps == pytest.approx(1.0)


def test_with_ties_matches_the_definition_on_random_cases():
    rng = random.Random(0)
    for _ in range(200):
        n = rng.randint(1, 12)
        human = [rng.choice([-1, 0, 1]) for _ in range(n)]
        diff = [rng.choice([0.0, 0.5, -0.5, 1.0]) if rng.random() < 0.3 else rng.uniform(-2, 2) for _ in range(n)]
        acc, eps = accuracy_with_ties(human, diff)
        expected_acc, expected_eps = brute_force_with_ties(human, diff)
        assert acc == pytest.approx(expected_acc)
        assert eps == pytest.approx(expected_eps)


def test_pairwise_metrics_reports_counts_and_handles_no_pairs():
    metrics = pairwise_metrics([1, 0, -1], [1.0, 0.0, 1.0])
    assert metrics["n_pairs"] == 3 and metrics["n_decided"] == 2
    assert metrics["acc_without_ties"] == pytest.approx(0.5)
    empty = pairwise_metrics([], [])
    assert empty == {"acc_without_ties": None, "acc_with_ties": None, "tie_threshold": None,
                     "n_pairs": 0, "n_decided": 0}
