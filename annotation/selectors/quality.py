"""How trustworthy a project's judgments are: agreement, consensus, and how each annotator is doing.

The database reduces the judgments to small tables. A pair's votes on one dimension enter only through their
*profile* — how many A, B and tie votes it got (and an adjudicator's decision, if any) — which is all that
Krippendorff's alpha and the consensus rule need. So each query is one pass over the judgments whatever the
project's size, and Python only sees a few hundred rows. Gold pairs are scored against their GoldAnswer and
kept out of alpha, consensus and agreement (they are judged by everyone, and would outweigh the rest).
"""

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count, F, Q

from annotation.alpha import alpha_from_profiles
from annotation.consensus import dimension_consensus, profile_consensus
from annotation.models import Adjudication, Assignment, Judgment, Membership, Pair, Project

OUTCOMES = ("A", "B", "tie")


@dataclass(frozen=True)
class Thresholds:
    """When an annotator gets flagged. Managers can override each one per request."""

    min_median_seconds: float = 4.0  # faster than this, both clips were hardly watched
    min_gold_accuracy: float = 0.6
    min_gold_answers: int = 5  # gold dimension answers needed before accuracy can flag
    bias_z: float = 3.0  # |z| of the left-wins share against 1/2
    min_bias_votes: int = 20


# ---- the reducing queries -------------------------------------------------------------------------------------

def _json_text(column: str, key: str) -> str:
    if connection.vendor == "postgresql":
        return f"({column} ->> {key})"
    return f"json_extract({column}, '$.' || {key})"


def _tallies_sql(n: int) -> str:
    """CTEs over the project's judgments; parameters ``project`` and ``dim0`` .. ``dim{n-1}`` (the dimension keys).

    ``judged``: the project's judgments, their pair's gold flag and their vote on dimension i as v{i}. ``tallies``:
    one row per ordinary pair, its
    A, B and tie votes on dimension i in columns a{i}, b{i}, t{i}. One pass over the judgments, a column per
    dimension rather than a row, so nothing downstream multiplies the judgments by the dimensions.
    """
    votes = ", ".join(f"{_dim('j.choices', i)} AS v{i}" for i in range(n))
    counts = ", ".join(f"SUM(CASE WHEN v{i} = '{outcome}' THEN 1 ELSE 0 END) AS {column}{i}"
                       for i in range(n) for outcome, column in (("A", "a"), ("B", "b"), ("tie", "t")))
    # Materialised: each vote is read out of its JSON once, not once per expression that uses it.
    return f"""
    WITH judged AS MATERIALIZED (
        SELECT j.pair_id, j.annotator_id, j.shown_left, p.is_gold, {votes}
        FROM annotation_judgment j JOIN annotation_pair p ON p.id = j.pair_id
        WHERE p.project_id = %(project)s
    ),
    tallies AS MATERIALIZED (SELECT pair_id, {counts} FROM judged WHERE NOT is_gold GROUP BY pair_id)
    """


def _dim(column: str, i: int) -> str:
    """The text of dimension i in a JSON column of outcomes."""
    return _json_text(column, f"%(dim{i})s")


def _added(template: str, n: int) -> str:
    """``template`` (with {i}) summed over the dimensions: per-annotator totals in one pass."""
    return " + ".join(f"SUM({template.format(i=i)})" for i in range(n))


def _rows(project: Project, sql: str, **params) -> list[tuple]:
    """``sql`` after the tallies CTEs (a leading comma adds CTEs of its own), with the dimension keys and the
    project as parameters."""
    keys = project.dimension_keys
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A report over every judgment: hash the tallies in memory, and skip JIT compilation, which costs
            # more than it saves on a query run once.
            cursor.execute("SET LOCAL work_mem = '64MB'; SET LOCAL jit = off")
        cursor.execute(_tallies_sql(len(keys)) + sql,
                       {"project": project.pk, **{f"dim{i}": key for i, key in enumerate(keys)}, **params})
        return cursor.fetchall()


def _profile_table(project: Project) -> list[tuple[str, int, int, int, str | None, int]]:
    """(dimension, A votes, B votes, tie votes, adjudicated outcome, how many ordinary pairs look like that)."""
    keys = project.dimension_keys
    rows = _rows(project, " UNION ALL ".join(f"""
        SELECT {i}, t.a{i}, t.b{i}, t.t{i}, {_dim("ad.choices", i)}, COUNT(*)
        FROM tallies t LEFT JOIN annotation_adjudication ad ON ad.pair_id = t.pair_id
        GROUP BY t.a{i}, t.b{i}, t.t{i}, {_dim("ad.choices", i)}""" for i in range(len(keys))))
    return [(keys[i], int(na), int(nb), int(nt), adjudicated, n) for i, na, nb, nt, adjudicated, n in rows]


def _consensus_sql(profiles: list[tuple[str, int, int, int, str | None, int]], keys: list[str], i: int) -> str:
    """SQL for the consensus of dimension i of the pair in ``tallies`` (aliased t) joined to its adjudication
    (ad). The rule stays in Python (profile_consensus): it is applied to each tally that occurs, and SQL only
    looks the answer up."""
    branches = " ".join(
        f"WHEN t.a{i} = {na} AND t.b{i} = {nb} AND t.t{i} = {nt} THEN '{outcome}'"
        for na, nb, nt in sorted({(na, nb, nt) for dim, na, nb, nt, _, _ in profiles if dim == keys[i]})
        if (outcome := profile_consensus(na, nb, nt, None)) is not None)
    return f"COALESCE({_dim('ad.choices', i)}, CASE {branches} END)" if branches else _dim("ad.choices", i)


def _median_ms(buckets: Mapping[int, int]) -> int | None:
    """Median of durations given as {100 ms bucket: count}, at 100 ms resolution."""
    total = sum(buckets.values())
    if total == 0:
        return None
    lower, upper = (total - 1) // 2, total // 2
    seen, found = 0, []
    for bucket in sorted(buckets):
        count = buckets[bucket]
        for rank in (lower, upper):
            if seen <= rank < seen + count:
                found.append(bucket * 100)
        seen += count
    return sum(found) // 2


# ---- the report -------------------------------------------------------------------------------------------------

def _dimension_report(project: Project, profile_table: list) -> list[dict]:
    to_adjudicate = _to_adjudicate_by_dimension(project, profile_table)
    profiles: dict[str, list] = defaultdict(list)
    for dim, na, nb, nt, adjudicated, n in profile_table:
        profiles[dim].append((na, nb, nt, adjudicated, n))
    report = []
    for d in project.dimensions:
        rows = profiles.get(d["key"], [])
        consensus = Counter({"A": 0, "B": 0, "tie": 0, "undecided": 0})
        for na, nb, nt, adjudicated, n in rows:
            if na + nb + nt:
                consensus[profile_consensus(na, nb, nt, adjudicated) or "undecided"] += n
        alpha = alpha_from_profiles(({"A": na, "B": nb, "tie": nt}, n) for na, nb, nt, _, n in rows)
        report.append({
            "key": d["key"], "label": d.get("label", d["key"]),
            "alpha": None if alpha is None else round(alpha, 4),
            "pairs_with_two_or_more_votes": sum(n for na, nb, nt, _, n in rows if na + nb + nt >= 2),
            "adjudicated": sum(n for *_, adjudicated, n in rows if adjudicated),
            "consensus": dict(consensus),  # "undecided" includes pairs still collecting votes
            "to_adjudicate": to_adjudicate[d["key"]],  # finished pairs among them, not adjudicated yet
        })
    return report


def _annotator_report(project: Project, thresholds: Thresholds, profile_table: list) -> list[dict]:
    stats: dict[int, dict] = defaultdict(lambda: {
        "judgments": 0, "durations": Counter(), "gold_answers": 0, "gold_correct": 0, "gold_pairs": 0,
        "agreement_votes": 0, "agreement_hits": 0, "left": 0, "right": 0, "ties": 0})

    durations = (Judgment.objects.filter(pair__project=project, annotator__isnull=False)
                 .values("annotator_id", bucket=F("duration_ms") / 100).annotate(n=Count("id")))
    for row in durations:
        s = stats[row["annotator_id"]]
        s["judgments"] += row["n"]
        if row["bucket"] is not None:
            s["durations"][row["bucket"]] += row["n"]

    keys, n = project.dimension_keys, len(project.dimension_keys)
    consensus = ", ".join(f"{_consensus_sql(profile_table, keys, i)} AS c{i}" for i in range(n))
    pairable = ", ".join(f"t.a{i} + t.b{i} + t.t{i} >= 2 AS m{i}" for i in range(n))
    # Per annotator in one pass: left and right wins (bias) over all their votes; agreement with the consensus
    # where the pair is ordinary, has two votes or more on the dimension, and has a consensus there.
    for annotator_id, left, right, ties, agreement_votes, agreement_hits in _rows(project, f""",
        per_judgment AS MATERIALIZED (
            SELECT judged.*, {consensus}, {pairable}
            FROM judged
            LEFT JOIN tallies t ON t.pair_id = judged.pair_id
            LEFT JOIN annotation_adjudication ad ON ad.pair_id = judged.pair_id
            WHERE judged.annotator_id IS NOT NULL
        )
        SELECT annotator_id,
               {_added("CASE WHEN v{i} IN ('A', 'B') AND v{i} = shown_left THEN 1 ELSE 0 END", n)},
               {_added("CASE WHEN v{i} IN ('A', 'B') AND shown_left IN ('A', 'B') AND v{i} <> shown_left THEN 1 ELSE 0 END", n)},
               {_added("CASE WHEN v{i} = 'tie' THEN 1 ELSE 0 END", n)},
               {_added("CASE WHEN m{i} AND v{i} IS NOT NULL AND c{i} IS NOT NULL THEN 1 ELSE 0 END", n)},
               {_added("CASE WHEN m{i} AND v{i} = c{i} THEN 1 ELSE 0 END", n)}
        FROM per_judgment
        GROUP BY annotator_id"""):
        stats[annotator_id].update(left=int(left), right=int(right), ties=int(ties),
                                   agreement_votes=int(agreement_votes), agreement_hits=int(agreement_hits))

    answers = " + ".join(f"(CASE WHEN v{i} IS NOT NULL AND {_dim('g.choices', i)} IS NOT NULL THEN 1 ELSE 0 END)"
                         for i in range(n))
    correct = " + ".join(f"(CASE WHEN v{i} = {_dim('g.choices', i)} THEN 1 ELSE 0 END)" for i in range(n))
    for annotator_id, right_answers, gold_answers, pairs in _rows(project, f"""
        SELECT judged.annotator_id, SUM({correct}), SUM({answers}), COUNT(DISTINCT judged.pair_id)
        FROM judged JOIN annotation_goldanswer g ON g.pair_id = judged.pair_id
        WHERE judged.annotator_id IS NOT NULL
        GROUP BY judged.annotator_id"""):
        stats[annotator_id].update(gold_correct=int(right_answers), gold_answers=int(gold_answers), gold_pairs=pairs)

    member_ids = Membership.objects.filter(project=project, role=Membership.Role.ANNOTATOR).values_list("user_id", flat=True)
    ids = set(stats) | set(member_ids)
    names = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))
    return sorted((_annotator_row(names.get(i, f"#{i}"), i, stats[i], thresholds) for i in ids),
                  key=lambda row: row["username"])


def _annotator_row(username: str, user_id: int, s: dict, t: Thresholds) -> dict:
    median_ms = _median_ms(s["durations"])
    gold_accuracy = s["gold_correct"] / s["gold_answers"] if s["gold_answers"] else None
    sided = s["left"] + s["right"]
    left_share = s["left"] / sided if sided else None
    bias_z = (s["left"] - sided / 2) / math.sqrt(sided / 4) if sided else None
    flags = []
    if median_ms is not None and median_ms / 1000 < t.min_median_seconds:
        flags.append("too_fast")
    if gold_accuracy is not None and s["gold_answers"] >= t.min_gold_answers and gold_accuracy < t.min_gold_accuracy:
        flags.append("low_gold_accuracy")
    if bias_z is not None and sided >= t.min_bias_votes and abs(bias_z) >= t.bias_z:
        flags.append("position_bias")
    return {
        "user_id": user_id, "username": username, "judgments": s["judgments"],
        "median_seconds": None if median_ms is None else median_ms / 1000,
        "gold_pairs": s["gold_pairs"], "gold_answers": s["gold_answers"],
        "gold_accuracy": None if gold_accuracy is None else round(gold_accuracy, 4),
        "consensus_agreement": round(s["agreement_hits"] / s["agreement_votes"], 4) if s["agreement_votes"] else None,
        "left_wins": s["left"], "right_wins": s["right"], "ties": s["ties"],
        "left_share": None if left_share is None else round(left_share, 4),
        "bias_z": None if bias_z is None else round(bias_z, 2),
        "flags": flags,
    }


def project_quality(*, project: Project, thresholds: Thresholds | None = None) -> dict:
    thresholds = thresholds or Thresholds()
    profile_table = _profile_table(project)
    pairs = Pair.objects.filter(project=project).aggregate(
        pairs=Count("id", filter=Q(is_gold=False)),
        complete=Count("id", filter=Q(is_gold=False, done_count__gte=F("target"))),
        gold=Count("id", filter=Q(is_gold=True)),
    )
    return {
        "project": project.pk,
        "totals": {**pairs,
                   "judgments": Judgment.objects.filter(pair__project=project).count(),
                   "live_leases": Assignment.objects.filter(pair__project=project, status=Assignment.Status.LEASED).count(),
                   "skips": Assignment.objects.filter(pair__project=project, status=Assignment.Status.SKIPPED).count()},
        "thresholds": asdict(thresholds),
        "dimensions": _dimension_report(project, profile_table),
        "annotators": _annotator_report(project, thresholds, profile_table),
    }


# ---- consensus and adjudication --------------------------------------------------------------------------------

def _undecided_tallies(project: Project, profile_table: list) -> list[tuple[int, int, int, int]]:
    """(dimension index, A, B, tie votes) of each tally that has no consensus. Decided here, by the one rule (an
    adjudication of the pair still settles it: see _awaiting)."""
    index = {dim: i for i, dim in enumerate(project.dimension_keys)}
    return sorted({(index[dim], na, nb, nt) for dim, na, nb, nt, adjudicated, _ in profile_table
                   if na + nb + nt and profile_consensus(na, nb, nt, adjudicated) is None})


def _awaiting(tallies: list[tuple[int, int, int, int]], dimension: int | None = None) -> str:
    """SQL: the pair (tallies t, adjudication ad) has one of ``tallies`` on a dimension (or on ``dimension``) that
    no adjudication has decided; SQL only matches the tallies Python found undecided."""
    match = " OR ".join(f"(t.a{i} = {na} AND t.b{i} = {nb} AND t.t{i} = {nt} AND {_dim('ad.choices', i)} IS NULL)"
                        for i, na, nb, nt in tallies if dimension in (None, i))
    return f"({match or '1 = 0'})"


# Finished ordinary pairs: they get no more votes, so an undecided one waits for an adjudicator.
_FINISHED_PAIRS = """
    FROM tallies t JOIN annotation_pair p ON p.id = t.pair_id
    LEFT JOIN annotation_adjudication ad ON ad.pair_id = t.pair_id
    WHERE p.done_count >= p.target"""


def _to_adjudicate_by_dimension(project: Project, profile_table: list) -> dict[str, int]:
    keys = project.dimension_keys
    tallies = _undecided_tallies(project, profile_table)
    if not tallies:
        return dict.fromkeys(keys, 0)
    counts = ", ".join(f"SUM(CASE WHEN {_awaiting(tallies, i)} THEN 1 ELSE 0 END)" for i in range(len(keys)))
    (row,) = _rows(project, f"SELECT {counts} {_FINISHED_PAIRS}")
    return {key: int(n or 0) for key, n in zip(keys, row, strict=True)}


def pairs_to_adjudicate(*, project: Project, limit: int = 20, offset: int = 0) -> tuple[int, list[int]]:
    """(how many, a page of ids) of finished ordinary pairs with a dimension that has no consensus yet."""
    tallies = _undecided_tallies(project, _profile_table(project))
    if not tallies:
        return 0, []
    candidates = f"SELECT t.pair_id {_FINISHED_PAIRS} AND {_awaiting(tallies)}"
    total = _rows(project, f"SELECT COUNT(*) FROM ({candidates}) c")[0][0]
    page = _rows(project, f"{candidates} ORDER BY t.pair_id LIMIT %(limit)s OFFSET %(offset)s",
                 limit=limit, offset=offset)
    return total, [pair_id for (pair_id,) in page]


def pair_review(*, project: Project, pair_ids: Sequence[int]) -> list[dict]:
    """Each pair's judgments (canonical order, with annotator and comment), consensus and adjudication."""
    judgments = defaultdict(list)
    for j in (Judgment.objects.filter(pair_id__in=pair_ids).select_related("annotator").order_by("created_at")):
        judgments[j.pair_id].append(j)
    adjudications = dict(Adjudication.objects.filter(pair_id__in=pair_ids).values_list("pair_id", "choices"))
    pairs = Pair.objects.filter(project=project, pk__in=pair_ids).select_related("prompt").order_by("pk")
    keys = project.dimension_keys
    review = []
    for pair in pairs:
        votes = [j.choices for j in judgments[pair.pk]]
        decided = adjudications.get(pair.pk, {})
        review.append({
            "pair": pair.pk, "prompt": pair.prompt.text,
            "judgments": [{"annotator": j.annotator.username if j.annotator else "imported", "choices": j.choices,
                           "comment": j.comment} for j in judgments[pair.pk]],
            "votes": {k: dict(Counter(v[k] for v in votes if v.get(k))) for k in keys},
            "consensus": {k: decided.get(k) or dimension_consensus(v.get(k) for v in votes) for k in keys},
            "adjudication": decided,
        })
    return review
