"""Pairs: two ready videos of one prompt from different models (or seeds), judged side by side.

Strategies are a registry, name → function. A strategy gets the prompts of one chunk (their ready videos and
the pairs they already have) and yields the pairs it wants; the service drops repeats and pairs that exist,
randomises the canonical A/B order and bulk-inserts. Another app adds one without touching this file::

    from annotation.services.pairing import register_strategy

    @register_strategy("uncertainty", needs_per_prompt=True)
    def uncertainty(context, prompts):
        for prompt in prompts:
            yield from closest_scores(prompt.candidates(), k=context.missing(prompt))
"""

import itertools
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property

from django.db import connection, transaction
from django.db.models import Count
from django.db.models.functions import Greatest, Least

from annotation.models import Pair, Project
from annotation.selectors.videos import pair_keys_by_prompt, ready_prompt_ids, ready_videos_by_prompt
from config.errors import InvalidInput

CHUNK_PROMPTS = 2000  # prompts read and inserted per round: bounded memory at any project size
INSERT_BATCH = 5000  # rows per INSERT where the database sets no parameter limit (PostgreSQL)
MAX_PER_PROMPT = 1000


@dataclass(frozen=True)
class VideoRef:
    id: int
    prompt_id: int
    model_id: int
    seed: int | None


@dataclass
class PromptVideos:
    prompt_id: int
    videos: list[VideoRef]
    existing: set[tuple[int, int]] = field(default_factory=set)  # (lower id, higher id) of pairs it has

    def candidates(self) -> list[tuple[VideoRef, VideoRef]]:
        """Pairs not made yet of two videos that differ in model or seed, in a stable order."""
        return [(a, b) for a, b in itertools.combinations(self.videos, 2)
                if (a.model_id, a.seed) != (b.model_id, b.seed) and _key(a.id, b.id) not in self.existing]


Strategy = Callable[["PairingContext", list[PromptVideos]], Iterable[tuple[VideoRef, VideoRef]]]
STRATEGIES: dict[str, Strategy] = {}
NEEDS_PER_PROMPT: set[str] = set()


def register_strategy(name: str, *, needs_per_prompt: bool = False) -> Callable[[Strategy], Strategy]:
    """Add a strategy; ``needs_per_prompt``: requests without ``per_prompt`` are refused up front."""

    def register(fn: Strategy) -> Strategy:
        STRATEGIES[name] = fn
        if needs_per_prompt:
            NEEDS_PER_PROMPT.add(name)
        return fn

    return register


@dataclass
class PairingContext:
    project: Project
    strategy: str
    per_prompt: int | None
    rng: random.Random

    def missing(self, prompt: PromptVideos) -> int:
        """How many more pairs the prompt needs to have ``per_prompt`` (existing pairs count)."""
        return max(0, (self.per_prompt or 0) - len(prompt.existing))

    @cached_property
    def model_pair_counts(self) -> Counter:
        """Pairs the project already has per unordered pair of generation models."""
        rows = (Pair.objects.filter(project=self.project)
                .values(low=Least("video_a__generation_model_id", "video_b__generation_model_id"),
                        high=Greatest("video_a__generation_model_id", "video_b__generation_model_id"))
                .annotate(n=Count("id")))
        return Counter({(row["low"], row["high"]): row["n"] for row in rows})


def _key(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


@register_strategy("all")
def _all(context: PairingContext, prompts: list[PromptVideos]) -> Iterator[tuple[VideoRef, VideoRef]]:
    for prompt in prompts:
        yield from prompt.candidates()


@register_strategy("random", needs_per_prompt=True)
def _random(context: PairingContext, prompts: list[PromptVideos]) -> Iterator[tuple[VideoRef, VideoRef]]:
    for prompt in prompts:
        candidates = prompt.candidates()
        yield from context.rng.sample(candidates, min(context.missing(prompt), len(candidates)))


@register_strategy("balanced", needs_per_prompt=True)
def _balanced(context: PairingContext, prompts: list[PromptVideos]) -> Iterator[tuple[VideoRef, VideoRef]]:
    """Greedy: the model pair covered least so far, then the videos used least in this prompt."""
    counts = context.model_pair_counts
    for prompt in prompts:
        candidates = prompt.candidates()
        context.rng.shuffle(candidates)  # random among equals
        uses: Counter = Counter()
        for _ in range(min(context.missing(prompt), len(candidates))):
            best = min(candidates, key=lambda p: (counts[_key(p[0].model_id, p[1].model_id)], uses[p[0].id] + uses[p[1].id]))
            candidates.remove(best)
            counts[_key(best[0].model_id, best[1].model_id)] += 1
            uses.update((best[0].id, best[1].id))
            yield best


def _chunks(prompt_ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(prompt_ids), CHUNK_PROMPTS):
        yield prompt_ids[start:start + CHUNK_PROMPTS]


def _new_pairs(context: PairingContext, prompts: list[PromptVideos]) -> list[tuple[int, int, int, int]]:
    """(prompt id, video A, video B, shuffle key) of the strategy's pairs that are new and valid."""
    made = {key for prompt in prompts for key in prompt.existing}
    rng = context.rng
    rows = []
    for a, b in STRATEGIES[context.strategy](context, prompts):
        key = _key(a.id, b.id)
        if a.id == b.id or a.prompt_id != b.prompt_id or key in made:
            continue
        made.add(key)
        if rng.random() < 0.5:  # canonical order carries no information about how the pair was found
            a, b = b, a
        rows.append((a.prompt_id, a.id, b.id, rng.randrange(2**31)))
    return rows


def _insert(context: PairingContext, rows: list[tuple[int, int, int, int]]) -> None:
    """Multi-row INSERT … ON CONFLICT DO NOTHING (PostgreSQL and SQLite alike): several times faster than
    bulk_create, which builds and prepares a model instance per row."""
    head = ("INSERT INTO annotation_pair (project_id, prompt_id, video_a_id, video_b_id, is_gold, target, done_count, "
            "leased_count, shuffle_key, strategy, created_at) "
            "SELECT %s, column1, column2, column3, FALSE, %s, 0, 0, column4, %s, CURRENT_TIMESTAMP FROM (VALUES ")
    # SQLite needs the WHERE to read ON CONFLICT as an upsert clause rather than part of the join.
    tail = ") AS v WHERE TRUE ON CONFLICT DO NOTHING"
    limit = connection.features.max_query_params  # SQLite: 999
    size = (limit - 3) // 4 if limit else INSERT_BATCH
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            batch = rows[start:start + size]
            sql = head + ", ".join(["(%s, %s, %s, %s)"] * len(batch)) + tail
            params = [context.project.pk, context.project.overlap, context.strategy]
            cursor.execute(sql, params + [value for row in batch for value in row])


@transaction.atomic
def pairs_generate(*, project: Project, strategy: str, per_prompt: int | None = None, seed: int | None = None) -> int:
    """Make pairs of ready videos with a registered strategy; returns how many were created.

    ``per_prompt``: pairs each prompt should end up with (``random``, ``balanced``); running again with the
    same value adds only what new videos make possible. ``seed`` makes the choice and A/B order reproducible.
    """
    if strategy not in STRATEGIES:
        raise InvalidInput(f"Unknown strategy {strategy!r}; choose from {', '.join(sorted(STRATEGIES))}.",
                           fields={"strategy": ["unknown"]})
    if per_prompt is None and strategy in NEEDS_PER_PROMPT:
        raise InvalidInput(f"Strategy {strategy!r} needs per_prompt (pairs each prompt should have).",
                           fields={"per_prompt": ["required for this strategy"]})
    if per_prompt is not None and not 1 <= per_prompt <= MAX_PER_PROMPT:
        raise InvalidInput(f"per_prompt must be between 1 and {MAX_PER_PROMPT}.", fields={"per_prompt": ["out of range"]})
    # One generation at a time per project, so the count below is this call's and balanced counts hold.
    project = Project.objects.select_for_update().get(pk=project.pk)
    before = Pair.objects.filter(project=project).count()
    context = PairingContext(project=project, strategy=strategy, per_prompt=per_prompt, rng=random.Random(seed))
    for chunk in _chunks(ready_prompt_ids(project=project)):
        videos = ready_videos_by_prompt(project=project, first=chunk[0], last=chunk[-1])
        existing = pair_keys_by_prompt(project=project, first=chunk[0], last=chunk[-1])
        prompts = [PromptVideos(prompt_id=pid, existing=existing.get(pid, set()),
                                videos=[VideoRef(*row) for row in videos[pid]])
                   for pid in chunk if len(videos.get(pid, ())) >= 2]
        _insert(context, _new_pairs(context, prompts))
    return Pair.objects.filter(project=project).count() - before

