"""Consensus of several judgments of one pair, per dimension (pure functions, no database).

Majority of the votes cast; without a majority, equal A and B votes make a tie (as a three-annotator
A/tie/B split does), anything else is undecided (None) and goes to an adjudicator.
"""

from collections import Counter
from collections.abc import Iterable


def dimension_consensus(votes: Iterable[str | None]) -> str | None:
    counts = Counter(v for v in votes if v is not None)
    total = sum(counts.values())
    if total == 0:
        return None
    outcome, n = counts.most_common(1)[0]
    if n * 2 > total:
        return outcome
    if counts["A"] == counts["B"]:
        return "tie"
    return None


def pair_consensus(judgments: Iterable[dict[str, str]], dimensions: Iterable[str]) -> dict[str, str | None]:
    """``judgments``: each a {dimension: "A"|"B"|"tie"} dict in canonical order."""
    judgments = list(judgments)
    return {d: dimension_consensus(j.get(d) for j in judgments) for d in dimensions}


def agreement(judgments: Iterable[dict[str, str]], dimension: str) -> float:
    """Share of votes that match the majority outcome (1.0 = unanimous)."""
    votes = [j[dimension] for j in judgments if j.get(dimension)]
    if not votes:
        return 0.0
    return Counter(votes).most_common(1)[0][1] / len(votes)


def profile_consensus(na: int, nb: int, nt: int, adjudicated: str | None) -> str | None:
    """A pair's outcome on a dimension from its A, B and tie vote counts: the adjudicator's decision, else the
    vote (dimension_consensus)."""
    if adjudicated:
        return adjudicated
    return dimension_consensus(["A"] * na + ["B"] * nb + ["tie"] * nt)
