"""Bradley–Terry ratings with bootstrap intervals (pure numpy, no database).

Each battle is a vote between two models; a tie is half a win for each side, as the arena leaderboards count
it. Strengths are fitted by maximum likelihood:

    P(i beats j) = sigmoid(theta_i - theta_j),   rating_i = 1000 + 400 * theta_i / ln 10   (the Elo scale)

and the 95% interval of each rating comes from refitting on battles resampled with replacement.
annotation.selectors.leaderboard reads the battles out of the database and calls bradley_terry_table.
"""

import math

import numpy as np

BASE_RATING = 1000.0
ELO_SCALE = 400 / math.log(10)
# A whisper of L2 keeps the fit finite when a model won (or lost) every battle, and pins disconnected groups.
L2 = 1e-6


def fit_bradley_terry(wins: np.ndarray, *, init: np.ndarray | None = None, max_iter: int = 100,
                      tol: float = 1e-9) -> np.ndarray:
    """Log-strengths (mean 0) maximising sum_ij wins[i, j] * log sigmoid(theta_i - theta_j) - L2/2 * |theta|^2.

    ``wins[i, j]``: battles i won against j (ties add 1/2 to both cells). Newton's method on the concave
    log-likelihood; it converges in a handful of steps.
    """
    games = wins + wins.T
    theta = np.zeros(len(wins)) if init is None else init.astype(float).copy()
    for _ in range(max_iter):
        p = 1 / (1 + np.exp(theta[None, :] - theta[:, None]))  # p[i, j] = P(i beats j)
        gradient = (wins - games * p).sum(axis=1) - L2 * theta
        curvature = games * p * (1 - p)
        neg_hessian = np.diag(curvature.sum(axis=1) + L2) - curvature
        step = np.linalg.solve(neg_hessian, gradient)
        theta += step
        if np.abs(step).max() < tol:
            break
    return theta - theta.mean()


def _rating(theta: float) -> float:
    return round(float(BASE_RATING + ELO_SCALE * theta), 1)


def _wins_matrix(k: int, i: np.ndarray, j: np.ndarray, score_i: np.ndarray, counts: np.ndarray) -> np.ndarray:
    wins = np.zeros((k, k))
    np.add.at(wins, (i, j), counts * score_i)
    np.add.at(wins, (j, i), counts * (1 - score_i))
    return wins


def bradley_terry_table(battles: list[tuple[int, int, float, int]], *, rounds: int = 200, seed: int = 0) -> list[dict]:
    """``battles``: (model i, model j, score of i in {1, 0.5, 0}, how many such battles), models as 0..k-1.

    Returns per model: rating, ci_low, ci_high (2.5th and 97.5th bootstrap percentiles), battles, wins (ties
    as 1/2), win_rate. Rows in model order.
    """
    k = 1 + max(max(i, j) for i, j, _, _ in battles)
    i, j = (np.array([b[n] for b in battles], dtype=int) for n in (0, 1))
    score_i = np.array([b[2] for b in battles], dtype=float)
    counts = np.array([b[3] for b in battles], dtype=float)
    wins = _wins_matrix(k, i, j, score_i, counts)
    theta = fit_bradley_terry(wins)

    rng = np.random.default_rng(seed)
    total = int(counts.sum())
    samples = np.empty((rounds, k))
    for r in range(rounds):
        resampled = rng.multinomial(total, counts / total).astype(float)
        samples[r] = fit_bradley_terry(_wins_matrix(k, i, j, score_i, resampled), init=theta)
    low, high = (np.percentile(samples, q, axis=0) if rounds else theta for q in (2.5, 97.5))

    games = wins + wins.T
    return [{"rating": _rating(theta[m]), "ci_low": _rating(low[m]), "ci_high": _rating(high[m]),
             "battles": int(round(games[m].sum())), "wins": float(wins[m].sum()),
             "win_rate": round(float(wins[m].sum() / games[m].sum()), 4) if games[m].sum() else None}
            for m in range(k)]


def arena_ranks(models: list[dict]) -> None:
    """Sorts ``models`` (rows with rating, ci_low, ci_high) best first and sets each one's arena-style rank:
    1 + how many models are better beyond doubt (their interval lies wholly above)."""
    models.sort(key=lambda m: -m["rating"])
    for m in models:
        m["rank"] = 1 + sum(other["ci_low"] > m["ci_high"] for other in models)
