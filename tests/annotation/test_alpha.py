"""Krippendorff's alpha (annotation.alpha) on worked examples, and against the `krippendorff` package."""

from collections import Counter

import krippendorff
import numpy as np
import pytest

from annotation.alpha import alpha_from_profiles, alpha_nominal


def test_alpha_matches_krippendorffs_own_worked_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", 4 coders x 12 units with gaps:
    # nominal alpha = 0.743. Each list is one unit's values (missing ones left out).
    units = [[1, 1, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2], [1, 2, 3, 4], [4, 4, 4, 4],
             [1, 1, 2, 1], [2, 2, 2, 2], [5, 5, 5], [1, 1], [3]]

    assert round(alpha_nominal(units), 3) == 0.743


def test_alpha_on_a_small_a_b_tie_example_worked_by_hand():
    # Coincidences: [A A A] gives o_AA=3; [A A B] gives o_AA=1, o_AB=o_BA=1; [B B tie] gives o_BB=1,
    # o_Btie=o_tieB=1. Margins n_A=5, n_B=3, n_tie=1, n=9. alpha = 1 - 8 * 4 / (2 * (15 + 5 + 3)) = 7/23.
    assert alpha_nominal([["A", "A", "A"], ["A", "A", "B"], ["B", "B", "tie"]]) == pytest.approx(7 / 23)


def test_alpha_is_one_for_perfect_agreement_and_undefined_without_variation():
    assert alpha_nominal([["A", "A"], ["B", "B", "B"], ["tie", "tie"]]) == pytest.approx(1.0)
    assert alpha_nominal([["A", "A"], ["A", "A"]]) is None
    assert alpha_nominal([["A"], ["B"]]) is None  # no unit has two values


def test_alpha_matches_the_krippendorff_package_on_random_votes():
    rng = np.random.default_rng(0)
    outcomes = ["A", "B", "tie"]
    for _ in range(20):
        units = [list(rng.choice(outcomes, size=rng.integers(1, 6), p=rng.dirichlet([1, 1, 1])))
                 for _ in range(rng.integers(5, 40))]
        value_counts = np.array([[unit.count(o) for o in outcomes] for unit in units])

        with np.errstate(invalid="ignore"):  # the package says nan where alpha is undefined; we say None
            expected = krippendorff.alpha(value_counts=value_counts, level_of_measurement="nominal")

        ours = alpha_nominal(units)
        assert (ours is None and np.isnan(expected)) or ours == pytest.approx(expected, abs=1e-9)


def test_alpha_from_profiles_weighs_each_profile_by_how_many_units_share_it():
    # What the quality report feeds it: (vote counts, how many pairs have those counts).
    profiles = [({"A": 3}, 4), ({"A": 2, "B": 1}, 3), ({"B": 1, "tie": 2}, 2), ({"A": 1}, 5)]
    units = [unit for counts, n in profiles for unit in [list(Counter(counts).elements())] * n]
    value_counts = np.array([[unit.count(o) for o in ("A", "B", "tie")] for unit in units])

    assert alpha_from_profiles(profiles) == pytest.approx(
        krippendorff.alpha(value_counts=value_counts, level_of_measurement="nominal"), abs=1e-9)
