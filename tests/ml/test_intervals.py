"""Win-rate intervals: a percentile bootstrap that resamples whole groups (a pair's judgments, a prompt's seeds)."""

import math
import random

from rewardlab.ml.intervals import bootstrap_ci95, win_rate
from rewardlab.ml.win_rate import win_rate_intervals


def test_ties_count_half_and_nothing_has_no_rate():
    assert win_rate([[1.0, 0.5], [0.0]]) == 0.5
    assert win_rate([[], []]) is None and bootstrap_ci95([[], []]) is None


def test_agreeing_groups_leave_no_doubt():
    assert bootstrap_ci95([[1.0, 1.0], [1.0]]) == [1.0, 1.0]
    assert bootstrap_ci95([[0.5]] * 10) == [0.5, 0.5]


def test_the_interval_of_independent_outcomes_matches_the_normal_approximation():
    rng = random.Random(1)
    outcomes = [[float(rng.random() < 0.5)] for _ in range(400)]
    rate = win_rate(outcomes)
    low, high = bootstrap_ci95(outcomes)
    half = 1.96 * math.sqrt(rate * (1 - rate) / len(outcomes))  # Wald, written out here
    assert low < rate < high
    assert abs((high - low) / 2 - half) < 0.01


def test_outcomes_that_move_together_widen_the_interval_as_they_should():
    # 100 prompts, two seeds each with the same outcome: 100 independent draws, not 200.
    rng = random.Random(2)
    draws = [float(rng.random() < 0.5) for _ in range(100)]
    grouped = bootstrap_ci95([[d, d] for d in draws])
    as_if_independent = bootstrap_ci95([[d] for d in draws for _ in range(2)])
    assert grouped[1] - grouped[0] > 1.3 * (as_if_independent[1] - as_if_independent[0])


def test_a_reward_judged_win_rate_resamples_prompts():
    aligned = [{"vq": 1.0}, {"vq": 1.0}, {"vq": 0.0}, {"vq": 0.0}]
    base = [{"vq": 0.0}, {"vq": 0.0}, {"vq": 1.0}, {"vq": 1.0}]
    # Prompt "a" wins both seeds, prompt "b" loses both: a resample draws either prompt or both.
    low, high = win_rate_intervals(aligned, base, ["a", "a", "b", "b"])["vq"]
    assert (low, high) == (0.0, 1.0)
