"""Krippendorff's alpha for nominal data (pure functions, no database).

The quality report (annotation.selectors.quality) reduces a project's judgments in SQL to *profiles*: how
many A, B and tie votes a pair got on a dimension, and how many pairs look like that. Alpha needs nothing
more, so it is computed here from profiles, never from individual judgments.
"""

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence


def alpha_from_profiles(profiles: Iterable[tuple[Mapping[str, int], int]]) -> float | None:
    """Nominal alpha from (value counts of one unit, how many units have exactly those counts).

    Coincidences: a unit with m >= 2 values adds n_c * (n_k - [c == k]) / (m - 1) to o[c, k].
    alpha = 1 - (n - 1) * sum_{c != k} o[c, k] / sum_{c != k} n_c * n_k, with n_c the margins of o.
    None when undefined: fewer than two pairable values, or every value the same.
    """
    o: Counter = Counter()
    for counts, weight in profiles:
        m = sum(counts.values())
        if m < 2 or weight == 0:
            continue
        for c, n_c in counts.items():
            for k, n_k in counts.items():
                pairable = n_c * (n_k - (c == k))
                if pairable:
                    o[c, k] += weight * pairable / (m - 1)
    margins: Counter = Counter()
    for (c, _), value in o.items():
        margins[c] += value
    n = sum(margins.values())
    observed = sum(value for (c, k), value in o.items() if c != k)
    expected = sum(margins[c] * margins[k] for c in margins for k in margins if c != k)
    if n <= 1 or expected == 0:
        return None
    return 1 - (n - 1) * observed / expected


def alpha_nominal(units: Iterable[Sequence]) -> float | None:
    """Nominal alpha of units given as their lists of values (missing values left out)."""
    return alpha_from_profiles((Counter(unit), 1) for unit in units)
