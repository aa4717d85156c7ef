"""Bradley–Terry ratings (annotation.bradley_terry) on worked examples, and against the `choix` package."""

import math

import choix
import numpy as np
import pytest

from annotation.bradley_terry import ELO_SCALE, arena_ranks, bradley_terry_table, fit_bradley_terry


def test_bradley_terry_recovers_the_odds_of_a_two_model_match():
    # 3 wins to 1: the maximum-likelihood odds are 3, so theta_x - theta_y = ln 3.
    theta = fit_bradley_terry(np.array([[0.0, 3.0], [1.0, 0.0]]))

    assert theta[0] - theta[1] == pytest.approx(math.log(3), abs=1e-4)
    assert theta.sum() == pytest.approx(0, abs=1e-9)


def test_bradley_terry_matches_the_likelihood_equations_for_three_models():
    # At the MLE each model's expected wins equal its actual wins: sum_j n_ij p_ij = W_i.
    wins = np.array([[0, 7, 4], [3, 0, 6], [1, 4, 0]], dtype=float)
    theta = fit_bradley_terry(wins)
    p = 1 / (1 + np.exp(theta[None, :] - theta[:, None]))

    np.testing.assert_allclose(((wins + wins.T) * p).sum(axis=1), wins.sum(axis=1), atol=1e-4)
    assert theta[0] > theta[1] > theta[2]


def test_ties_count_half_a_win_each():
    # x beats y twice and ties twice: the same as 3 wins to 1.
    rows = bradley_terry_table([(0, 1, 1.0, 2), (0, 1, 0.5, 2)], rounds=0)

    assert rows[0]["rating"] - rows[1]["rating"] == pytest.approx(ELO_SCALE * math.log(3), abs=0.2)
    assert (rows[0]["wins"], rows[0]["battles"], rows[0]["win_rate"]) == (3.0, 4, 0.75)


def test_bradley_terry_matches_choix_maximum_likelihood():
    rng = np.random.default_rng(1)
    for k in (2, 3, 5):
        # Integer wins, every pair of models met both ways: the maximum-likelihood estimate exists.
        wins = rng.integers(1, 12, size=(k, k)).astype(float)
        np.fill_diagonal(wins, 0)
        battles = [(i, j) for i in range(k) for j in range(k) for _ in range(int(wins[i, j]))]

        expected = choix.opt_pairwise(k, battles, alpha=0, tol=1e-10)

        np.testing.assert_allclose(fit_bradley_terry(wins), expected - expected.mean(), atol=1e-4)


def test_a_tie_is_the_same_as_one_win_each_in_choix():
    # Two ties between x and y and three wins of x: with counts doubled, a tie is one win each side.
    rows = bradley_terry_table([(0, 1, 0.5, 2), (0, 1, 1.0, 3)], rounds=0)
    theta = choix.opt_pairwise(2, [(0, 1)] * 8 + [(1, 0)] * 2, alpha=0, tol=1e-10)

    assert rows[0]["rating"] - rows[1]["rating"] == pytest.approx(ELO_SCALE * (theta[0] - theta[1]), abs=0.1)


def test_bootstrap_interval_contains_the_rating_and_is_reproducible_by_seed():
    battles = [(0, 1, 1.0, 30), (0, 1, 0.0, 10), (1, 2, 1.0, 25), (1, 2, 0.5, 5), (0, 2, 1.0, 20)]
    rows = bradley_terry_table(battles, rounds=100, seed=3)

    assert all(r["ci_low"] <= r["rating"] <= r["ci_high"] for r in rows)
    assert rows == bradley_terry_table(battles, rounds=100, seed=3)


def test_arena_rank_counts_only_models_better_beyond_doubt():
    models = [{"model": "b", "rating": 1000, "ci_low": 980, "ci_high": 1020},
              {"model": "a", "rating": 1100, "ci_low": 1010, "ci_high": 1190},
              {"model": "c", "rating": 900, "ci_low": 850, "ci_high": 1005}]
    arena_ranks(models)

    assert [(m["model"], m["rank"]) for m in models] == [("a", 1), ("b", 1), ("c", 2)]
