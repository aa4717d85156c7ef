"""The rows of a dataset version, read from the database in one ordered pass.

Judgments are read from a PostgreSQL server-side cursor, ordered by prompt, pair and id, and grouped per
pair as they arrive, so memory holds one chunk of rows whatever the size of the selection.
The order also makes the output reproducible: the same judgments always come out in the same order.

Filters (a version's ``filters``, as ``annotation.services.exports`` cleans them):
``dimensions``, ``annotators`` (user ids or null for everyone), ``created_from``/``created_to`` (ISO times,
from inclusive, to exclusive), ``include_gold``, ``include_imported``, ``min_judgments``, ``min_agreement``
(a pair's agreement is the mean over the chosen dimensions of the share of votes for the majority outcome;
adjudicated pairs always pass) and ``until_judgment_id`` (the snapshot: judgments made after the version
was asked for are not in it).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Iterator
from operator import itemgetter

from django.db import connection
from django.db.models import QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.utils.crypto import salted_hmac
from django.utils.dateparse import parse_datetime

from annotation.consensus import agreement, dimension_consensus
from annotation.exports.base import Layout, video_path
from annotation.models import Judgment, Video
from annotation.splits import split_of

FETCH_ROWS = 5_000  # rows per round trip to the server-side cursor
CHUNK_ROWS = 5_000  # rows per chunk handed to the writers

# Column positions in the rows the query returns (a video is four columns: sha256, model, fps, frames).
_FIELDS = (
    "pair_id", "pair__prompt_id", "pair__prompt__text", "annotator_id", "shown_left", "duration_ms", "created_at",
    "imported", "pair__is_gold", "pair__adjudication__id",
    "pair__video_a__sha256", "pair__video_a__generation_model__name", "pair__video_a__fps", "pair__video_a__num_frames",
    "pair__video_b__sha256", "pair__video_b__generation_model__name", "pair__video_b__fps", "pair__video_b__num_frames",
)
_PAIR, _PROMPT_ID, _PROMPT, _ANNOTATOR, _SHOWN_LEFT, _DURATION, _CREATED, _IMPORTED, _GOLD, _ADJUDICATION = range(10)
_VIDEO_A, _VIDEO_B = 10, 14
_OUTCOMES = len(_FIELDS)  # then one column per dimension for the judgment, one per dimension for the adjudication


def selected_judgments(*, project_id: int, filters: dict) -> QuerySet[Judgment]:
    """The judgments a version's filters pick, before the per-pair filters (agreement, judgment count)."""
    qs = Judgment.objects.filter(pair__project_id=project_id)
    if filters.get("until_judgment_id") is not None:
        qs = qs.filter(id__lte=filters["until_judgment_id"])
    if filters.get("annotators") is not None:
        qs = qs.filter(annotator_id__in=filters["annotators"])
    if filters.get("created_from"):
        qs = qs.filter(created_at__gte=parse_datetime(filters["created_from"]))
    if filters.get("created_to"):
        qs = qs.filter(created_at__lt=parse_datetime(filters["created_to"]))
    if not filters.get("include_gold", False):
        qs = qs.filter(pair__is_gold=False)
    if not filters.get("include_imported", True):
        qs = qs.filter(imported=False)
    return qs


def annotator_pseudonym(*, project_id: int, seed: int, user_id: int) -> str:
    """A stable stand-in for a user: the same for one project and seed, unlinkable without the server's secret."""
    mac = salted_hmac("vidpref.exports.annotator", f"{project_id}:{seed}:{user_id}", algorithm="sha256")
    return "ann_" + mac.hexdigest()[:16]


@functools.lru_cache(maxsize=65536)
def _dimension_outcome(votes: tuple[str | None, ...]) -> tuple[str | None, float]:
    """(consensus, agreement) of one dimension's votes, from ``annotation.consensus``.

    Cached by vote pattern: a handful of patterns (A/B/tie over a few annotators) cover every pair, and
    the functions' Counters were most of a consensus export's time.
    """
    return dimension_consensus(votes), agreement([{"v": v} for v in votes], "v")


def _video(row: tuple, at: int) -> dict:
    sha256, model, fps, num_frames = row[at:at + 4]
    return {"path": video_path(sha256), "model": model, "sha256": sha256, "fps": fps, "num_frames": num_frames}


class ExportRows:
    """One pass over a version's rows. Iterate ``chunks()``; the counters fill in as it goes."""

    def __init__(self, *, project_id: int, filters: dict, layout: Layout, fractions: dict[str, float], seed: int):
        self.project_id = project_id
        self.filters = filters
        self.layout = layout
        self.fractions = fractions
        self.seed = seed
        self.judgments_read = 0
        self.judgments_kept = 0
        self.annotator_ids: set[int] = set()  # one entry per person: small whatever the dataset size
        self._pseudonyms: dict[int, str] = {}
        self._split = (None, "")  # (prompt id, split): rows come grouped by prompt, so one entry is enough

    def count(self) -> int:
        """Judgments the filters select (the denominator of progress)."""
        return selected_judgments(project_id=self.project_id, filters=self.filters).count()

    def _query(self) -> Iterator[tuple]:
        """The selected judgments in (prompt, pair, id) order, outcomes as text columns."""
        dims = self.layout.dimensions
        qs = (selected_judgments(project_id=self.project_id, filters=self.filters)
              .annotate(**{f"choice_{d}": KeyTextTransform(d, "choices") for d in dims},
                        **{f"decided_{d}": KeyTextTransform(d, "pair__adjudication__choices") for d in dims})
              .order_by("pair__prompt_id", "pair_id", "id")
              .values_list(*_FIELDS, *(f"choice_{d}" for d in dims), *(f"decided_{d}" for d in dims)))
        if connection.vendor != "postgresql":
            return qs.iterator(chunk_size=FETCH_ROWS)  # SQLite (local use): Django's converters make values alike
        return _server_side(qs)

    def chunks(self, chunk_rows: int = CHUNK_ROWS) -> Iterator[list[dict]]:
        chunk: list[dict] = []
        for _, group in itertools.groupby(self._query(), key=itemgetter(_PAIR)):
            chunk += self._pair_rows(list(group))
            if len(chunk) >= chunk_rows:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def _split_of(self, row: tuple) -> str:
        if self._split[0] != row[_PROMPT_ID]:
            self._split = (row[_PROMPT_ID], split_of(row[_PROMPT], self.fractions, self.seed))
        return self._split[1]

    def _pseudonym(self, user_id: int | None) -> str | None:
        if user_id is None:
            return None  # imported judgments have no VidPref user
        if user_id not in self._pseudonyms:
            self._pseudonyms[user_id] = annotator_pseudonym(project_id=self.project_id, seed=self.seed, user_id=user_id)
        return self._pseudonyms[user_id]

    def _pair_rows(self, group: list[tuple]) -> list[dict]:
        """The rows one pair contributes: none (filtered out), one consensus row, or one per judgment."""
        self.judgments_read += len(group)
        if len(group) < self.filters.get("min_judgments", 1):
            return []
        dims = self.layout.dimensions
        n = len(dims)
        head = group[0]
        adjudicated = head[_ADJUDICATION] is not None
        min_agreement = self.filters.get("min_agreement")
        outcomes = {}
        if self.layout.granularity == "consensus" or min_agreement is not None:
            outcomes = {d: _dimension_outcome(tuple(g[_OUTCOMES + i] for g in group)) for i, d in enumerate(dims)}
        if min_agreement is not None and not adjudicated and sum(a for _, a in outcomes.values()) / n < min_agreement:
            return []
        self.judgments_kept += len(group)
        self.annotator_ids.update(g[_ANNOTATOR] for g in group if g[_ANNOTATOR] is not None)

        common = {"pair_id": head[_PAIR], "prompt": head[_PROMPT],
                  "video_A": _video(head, _VIDEO_A), "video_B": _video(head, _VIDEO_B)}
        split = self._split_of(head)
        if self.layout.granularity == "consensus":
            decided = head[_OUTCOMES + n:_OUTCOMES + 2 * n]  # an adjudication overrides the vote
            labels = {d: decision or outcomes[d][0] for d, decision in zip(dims, decided, strict=True)}
            return [{**common, "labels": labels, "agreement": {d: round(outcomes[d][1], 4) for d in dims},
                     "n_judgments": len(group), "gold": head[_GOLD], "imported": any(g[_IMPORTED] for g in group),
                     "adjudicated": adjudicated, "split": split}]
        return [{**common, "annotator": self._pseudonym(g[_ANNOTATOR]),
                 "choices": dict(zip(dims, g[_OUTCOMES:_OUTCOMES + n], strict=True)),
                 "shown_left": g[_SHOWN_LEFT] or None, "duration_ms": g[_DURATION], "created_at": g[_CREATED],
                 "gold": g[_GOLD], "imported": g[_IMPORTED], "split": split} for g in group]


def _server_side(qs: QuerySet) -> Iterator[tuple]:
    """Rows straight from a PostgreSQL server-side cursor, FETCH_ROWS per round trip, without per-row ORM work."""
    sql, params = qs.query.sql_with_params()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(FETCH_ROWS):
            yield from rows


def video_files(*, project_id: int, sha256s: Iterable[str], batch: int = 1000) -> Iterator[tuple[str, str]]:
    """(sha256, storage key of the file to ship) for each video, in sha256 order: the playback copy, else the original."""
    ordered = sorted(sha256s)
    for start in range(0, len(ordered), batch):
        rows = (Video.objects.filter(project_id=project_id, sha256__in=ordered[start:start + batch])
                .order_by("sha256").values_list("sha256", "playback", "original"))
        for sha256, playback, original in rows:
            yield sha256, playback or original
