"""The annotation queue: lease a pair to an annotator, take their judgment or their skip, expire stale leases.

The counters on the Pair row are what the claim reads, and every change keeps them in step with the
Assignment rows inside one transaction:

    claim   leased_count + 1                  (an Assignment "leased", expires after lease_seconds)
    submit  leased_count - 1, done_count + 1  (a Judgment in canonical A/B order); with ``next``, then a claim
    skip    leased_count - 1
    expire  leased_count - 1                  (lazily when a claim finds nothing free, and by the periodic sweep)

The project's "judgments still needed" (the sum of ``target - done_count``) is cached for the annotators'
progress line; a submit forgets it once committed, so the annotator who just lowered it sees it lowered.

A pair is open while ``done_count + leased_count < target``; the partial index ``pair_queue_open`` holds
exactly the open pairs, most-judged first (breadth-first), then by the random ``shuffle_key`` fixed at
creation. On PostgreSQL the claim is one statement that reads a short window at the front of that index and
locks the first pair there this annotator has not judged, with ``FOR UPDATE SKIP LOCKED``: concurrent
annotators never wait for each other and never share a slot, and no statement counts or sorts the table.
"""

import json
import random
from collections import Counter
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone
from psycopg2 import errorcodes

from annotation.models import Assignment, Judgment, Pair, Project
from config.errors import Conflict, Forbidden, InvalidInput

CHOICES = ("left", "right", "tie")
MAX_DURATION_MS = 24 * 3600 * 1000
MAX_COMMENT_CHARS = 2000
MAX_SKIP_REASON_CHARS = 500
# Namespace of the per-annotator advisory lock (the other half of the key is the user id).
_ANNOTATOR_LOCK_NAMESPACE = 0x5650_0001

# How many pairs at the front of the queue one claim looks at. Bounded, so the claim costs the same in a project
# of any size, and however many open pairs this annotator has already judged (those wait for other people).
CLAIM_WINDOW = 32

_CLAIM_SQL = """
WITH head AS MATERIALIZED (
    SELECT id FROM annotation_pair
    WHERE project_id = %(project)s AND is_gold = %(gold)s AND done_count < (target - leased_count)
      AND done_count <= %(max_done)s
    ORDER BY done_count DESC, shuffle_key
    LIMIT %(window)s
), slot AS (
    SELECT p.id
    FROM annotation_pair p
    WHERE p.id IN (SELECT id FROM head)
      AND p.done_count < (p.target - p.leased_count)
      AND NOT EXISTS (
          SELECT 1 FROM annotation_assignment a
          WHERE a.pair_id = p.id AND a.annotator_id = %(annotator)s AND a.status <> 'expired'
      )
    ORDER BY {order}
    LIMIT 1
    FOR UPDATE OF p {wait}
), taken AS (
    UPDATE annotation_pair p SET leased_count = p.leased_count + 1
    FROM slot WHERE p.id = slot.id
    RETURNING p.id
), lease AS (
    INSERT INTO annotation_assignment
        (pair_id, annotator_id, status, shown_left, leased_at, expires_at, finished_at, skip_reason)
    SELECT taken.id, %(annotator)s, 'leased', %(shown_left)s, now(), now() + make_interval(secs => %(lease)s), NULL, ''
    FROM taken
    -- The annotator's own expired lease on this pair is renewed: letting a lease lapse is not a judgment.
    ON CONFLICT ON CONSTRAINT assignment_one_per_annotator_and_pair DO UPDATE
        SET status = 'leased', shown_left = EXCLUDED.shown_left, leased_at = EXCLUDED.leased_at,
            expires_at = EXCLUDED.expires_at, finished_at = NULL, skip_reason = ''
        WHERE annotation_assignment.status = 'expired'
    RETURNING id, pair_id
)
SELECT taken.id, lease.id FROM taken LEFT JOIN lease ON lease.pair_id = taken.id
"""


def claim_statement(*, project: Project, annotator: AbstractBaseUser, gold: bool, shown_left: str, fresh_only: bool,
                    wait: bool) -> tuple[str, dict]:
    """The claim as (SQL, parameters). ``fresh_only``: look only at pairs nobody has judged yet. ``wait``: block on
    pairs other claims hold for an instant rather than step over them (for the last free slots)."""
    params = {"project": project.pk, "gold": gold, "annotator": annotator.pk, "shown_left": shown_left,
              "lease": project.lease_seconds, "max_done": 0 if fresh_only else 32767, "window": CLAIM_WINDOW}
    # A waiting claim keeps the rows it locked and then found full, so waiting claims lock in one order (by id),
    # like the lease sweep: two of them cannot each hold what the other waits for.
    if wait:
        return _CLAIM_SQL.format(order="p.id", wait=""), params
    return _CLAIM_SQL.format(order="p.done_count DESC, p.shuffle_key", wait="SKIP LOCKED"), params


def _claim_postgresql(*, project: Project, annotator: AbstractBaseUser, gold: bool, shown_left: str,
                      fresh_only: bool, wait: bool) -> int | None:
    sql, params = claim_statement(project=project, annotator=annotator, gold=gold, shown_left=shown_left,
                                  fresh_only=fresh_only, wait=wait)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    pair_id, assignment_id = row
    if assignment_id is None:
        # Only reachable if the per-annotator lock were bypassed; raising rolls the counter back with it.
        raise Conflict(f"Pair {pair_id} was taken twice by one annotator at the same moment; ask for the next pair again.")
    return assignment_id


def _claim_portable(*, project: Project, annotator: AbstractBaseUser, gold: bool, shown_left: str,
                    fresh_only: bool = False, wait: bool = False) -> int | None:
    """The same claim with the ORM, for SQLite (``make run``): writers are serialised there, so ``wait`` is moot."""
    seen = Assignment.objects.filter(annotator=annotator).exclude(status=Assignment.Status.EXPIRED).values("pair_id")
    open_pairs = Pair.objects.filter(project=project, is_gold=gold, done_count__lt=F("target") - F("leased_count"))
    if fresh_only:
        open_pairs = open_pairs.filter(done_count=0)
    candidates = open_pairs.exclude(pk__in=seen).order_by("-done_count", "shuffle_key").values_list("pk", flat=True)
    for pair_id in candidates[:50]:
        # Conditional increment: a concurrent claim that took the last slot makes this update a no-op.
        if open_pairs.filter(pk=pair_id).update(leased_count=F("leased_count") + 1):
            now = timezone.now()
            assignment, _ = Assignment.objects.update_or_create(
                pair_id=pair_id, annotator=annotator,
                defaults={"status": Assignment.Status.LEASED, "shown_left": shown_left, "leased_at": now,
                          "expires_at": now + timedelta(seconds=project.lease_seconds),
                          "finished_at": None, "skip_reason": ""},
            )
            return assignment.pk
    return None


def _lock_annotator(annotator: AbstractBaseUser) -> None:
    """Serialise one annotator's own `next` calls (double clicks, two tabs); other annotators never wait."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [(_ANNOTATOR_LOCK_NAMESPACE << 32) | annotator.pk])


# What the annotator's page needs of an assignment, in one query (the project is at hand already).
_WITH_PAIR = ("pair__prompt", "pair__video_a", "pair__video_b")


def live_leases(*, project: Project, annotator: AbstractBaseUser):
    return Assignment.objects.filter(
        annotator=annotator, pair__project=project, status=Assignment.Status.LEASED, expires_at__gt=timezone.now()
    ).order_by("leased_at", "pk")


def assignment_next(*, project: Project, annotator: AbstractBaseUser, after: int | None = None) -> Assignment | None:
    """The annotator's oldest live lease in the project, else a newly leased pair, else None (nothing left).

    ``after``: the assignment the page is showing now; the answer is then another one, so the page can
    prefetch the following pair. An annotator holds at most two live leases: any call excludes at most one.
    """
    for attempt in ("now", "after reclaiming expired leases"):
        with transaction.atomic():
            _lock_annotator(annotator)
            live = live_leases(project=project, annotator=annotator)
            # Ids first, then one wide read of the answer: most calls find no live lease, and a wide select
            # costs more to build than to run.
            assignment_id = (live.exclude(pk=after) if after is not None else live).values_list("pk", flat=True).first()
            if assignment_id is None:
                assignment_id = _claim(project=project, annotator=annotator)
            if assignment_id is not None:
                assignment = Assignment.objects.select_related(*_WITH_PAIR).get(pk=assignment_id)
                assignment.pair.project = project
                return assignment
        # Lazily, only when nothing seems free: stale leases may hold the last slots (the periodic sweep
        # reclaims the rest), so the hot path never pays for the sweep.
        if attempt == "now" and leases_expire() == 0:
            break
    return None


# (fresh_only, wait), in order. First the front of the queue, stepping over pairs that concurrent claims hold.
# If this annotator has judged every open pair there, fresh pairs. If still nothing, the last free slots may be
# held for an instant by other claims: wait for those before saying "nothing left".
_CLAIM_ATTEMPTS = ((False, False), (True, False), (False, True))


def _claim(*, project: Project, annotator: AbstractBaseUser) -> int | None:
    claim = _claim_postgresql if connection.vendor == "postgresql" else _claim_portable
    # Gold pairs come at the project's ratio, but never alone: with the real work done the queue is empty.
    tiers = [True, False] if project.gold_ratio > 0 and random.random() < project.gold_ratio else [False]
    for gold in tiers:
        for fresh_only, wait in _CLAIM_ATTEMPTS:
            args = {"project": project, "annotator": annotator, "gold": gold, "shown_left": random.choice("AB"),
                    "fresh_only": fresh_only, "wait": wait}
            assignment_id = _waiting(claim, args) if wait else claim(**args)
            if assignment_id is not None:
                return assignment_id
    return None


def _waiting(claim, args: dict, tries: int = 3) -> int | None:
    """A claim that blocks on rows other claims hold. Rows an earlier attempt of this transaction locked and found
    full stay locked, so two waiting claims can still deadlock; PostgreSQL then aborts one, which steps back to
    its savepoint and tries again instead of answering 500."""
    for _ in range(tries):
        try:
            with transaction.atomic():
                return claim(**args)
        except OperationalError as exc:
            if getattr(exc.__cause__, "pgcode", None) != errorcodes.DEADLOCK_DETECTED:
                raise
    return None


def leases_expire(*, limit: int = 500) -> int:
    """Mark leases past their time as expired and give their slots back; returns how many (periodic task too)."""
    now = timezone.now()
    with transaction.atomic():
        stale = list(
            Assignment.objects.select_for_update(skip_locked=True)
            .filter(status=Assignment.Status.LEASED, expires_at__lte=now)
            .order_by("expires_at")
            .values_list("pk", "pair_id")[:limit]
        )
        if not stale:
            return 0
        Assignment.objects.filter(pk__in=[pk for pk, _ in stale]).update(status=Assignment.Status.EXPIRED, finished_at=now)
        # Pairs in id order: two sweeps lock them in the same order and cannot deadlock.
        for pair_id, n in sorted(Counter(pair_id for _, pair_id in stale).items()):
            Pair.objects.filter(pk=pair_id).update(leased_count=F("leased_count") - n)
    return len(stale)


def remaining_cache_key(project: Project) -> str:
    # The creation time in the key: a project id reused by a fresh database never reads an old figure.
    return f"vidpref:remaining:{project.pk}:{project.created_at.timestamp()}"


def to_canonical(choice: str, shown_left: str) -> str:
    """"left"/"right"/"tie" as the annotator saw it → "A"/"B"/"tie" in the pair's order."""
    if choice == "tie":
        return "tie"
    shown_right = "B" if shown_left == "A" else "A"
    return shown_left if choice == "left" else shown_right


def to_shown(outcome: str, shown_left: str) -> str:
    """The inverse of :func:`to_canonical`."""
    if outcome == "tie":
        return "tie"
    return "left" if outcome == shown_left else "right"


def _validated_choices(project: Project, choices: object, shown_left: str) -> dict[str, str]:
    if not isinstance(choices, dict):
        raise InvalidInput("choices must be an object like {\"vq\": \"left\"}.", fields={"choices": ["not an object"]})
    keys = project.dimension_keys
    fields: dict[str, list[str]] = {}
    for key in choices:
        if key not in keys:
            fields[f"choices.{key}"] = [f"unknown dimension; this project's dimensions are {', '.join(keys)}"]
    for key in keys:
        if key not in choices:
            fields[f"choices.{key}"] = ["missing: answer every dimension with left, right or tie"]
        elif choices[key] not in CHOICES:
            fields[f"choices.{key}"] = [f"must be left, right or tie, not {choices[key]!r}"]
    if fields:
        raise InvalidInput("Some answers are missing or invalid: " + "; ".join(f"{k}: {v[0]}" for k, v in fields.items()),
                           fields=fields)
    return {key: to_canonical(choices[key], shown_left) for key in keys}


def _validated_extras(duration_ms: int | None, comment: str) -> None:
    if duration_ms is not None and not 0 <= duration_ms <= MAX_DURATION_MS:
        raise InvalidInput(f"duration_ms must be between 0 and {MAX_DURATION_MS} (milliseconds on task).",
                           fields={"duration_ms": ["out of range"]})
    if len(comment) > MAX_COMMENT_CHARS:
        raise InvalidInput(f"comment is longer than {MAX_COMMENT_CHARS} characters.", fields={"comment": ["too long"]})


def _check_owner(assignment: Assignment, annotator: AbstractBaseUser) -> None:
    if assignment.annotator_id != annotator.pk:
        raise Forbidden("This assignment is leased to another annotator; ask for your own with assignments/next/.")


def _check_live(assignment: Assignment, action: str) -> None:
    """Raise unless the lease is live; ``assignment`` is the row as locked in this transaction."""
    if assignment.status == Assignment.Status.SKIPPED:
        raise Conflict(f"You skipped this pair, so it cannot be {action} any more. Ask for the next pair.",
                       code="skipped")
    if assignment.status == Assignment.Status.SUBMITTED:
        raise Conflict(f"This pair was already submitted, so it cannot be {action}. Ask for the next pair.",
                       code="submitted")
    if assignment.status == Assignment.Status.EXPIRED or assignment.expires_at <= timezone.now():
        raise Conflict(f"Your lease on this pair expired at {assignment.expires_at:%H:%M:%S} UTC and the pair went back "
                       "to the queue. Ask for the next pair.", code="lease_expired")


# The ordinary submit in one statement: lock the holder's live lease, as it was read (the same left side), write
# the judgment, close the lease and move the pair's counters. Anything else (a retry, an expired or skipped lease,
# a lapsed lease renewed since it was read) matches no row, writes nothing, and the ORM path says what happened.
# One statement instead of four ORM queries: submit runs on every judgment, and building queries costs more CPU
# than running them.
_SUBMIT_SQL = """
WITH live AS (
    SELECT id, pair_id FROM annotation_assignment
    WHERE id = %(assignment)s AND annotator_id = %(annotator)s AND status = 'leased'
      AND shown_left = %(shown_left)s AND expires_at > now()
    FOR UPDATE
), judged AS (
    INSERT INTO annotation_judgment
        (pair_id, assignment_id, annotator_id, choices, shown_left, duration_ms, comment, is_gold, imported, created_at)
    SELECT pair_id, id, %(annotator)s, %(choices)s::jsonb, %(shown_left)s, %(duration_ms)s, %(comment)s, %(gold)s,
           false, now()
    FROM live
    RETURNING id, created_at
), closed AS (
    UPDATE annotation_assignment a SET status = 'submitted', finished_at = now() FROM live WHERE a.id = live.id
), counted AS (
    UPDATE annotation_pair p SET done_count = p.done_count + 1, leased_count = p.leased_count - 1
    FROM live WHERE p.id = live.pair_id
)
SELECT id, created_at FROM judged
"""


def _submit_live_postgresql(assignment: Assignment, annotator: AbstractBaseUser, canonical: dict[str, str],
                            duration_ms: int | None, comment: str) -> Judgment | None:
    comment, gold = comment.strip(), assignment.pair.is_gold
    with connection.cursor() as cursor:
        cursor.execute(_SUBMIT_SQL, {"assignment": assignment.pk, "annotator": annotator.pk, "gold": gold,
                                     "shown_left": assignment.shown_left, "choices": json.dumps(canonical),
                                     "duration_ms": duration_ms, "comment": comment})
        row = cursor.fetchone()
    if row is None:
        return None
    return Judgment(pk=row[0], created_at=row[1], pair_id=assignment.pair_id, assignment=assignment,
                    annotator=annotator, choices=canonical, shown_left=assignment.shown_left, duration_ms=duration_ms,
                    comment=comment, is_gold=gold)


@transaction.atomic
def assignment_submit(*, assignment: Assignment, annotator: AbstractBaseUser, choices: dict[str, str],
                      duration_ms: int | None = None, comment: str = "") -> Judgment:
    """Record the annotator's answers. A retry with the same answers returns the same Judgment."""
    _check_owner(assignment, annotator)
    canonical = _validated_choices(assignment.pair.project, choices, assignment.shown_left)
    _validated_extras(duration_ms, comment)
    # The project's cached figure goes once this commits, whichever way below records the judgment (a failed
    # submit rolls back and drops it). Deleted, not decremented: Redis would recreate an expired key at -1.
    key = remaining_cache_key(assignment.pair.project)
    transaction.on_commit(lambda: cache.delete(key))
    if connection.vendor == "postgresql":
        judgment = _submit_live_postgresql(assignment, annotator, canonical, duration_ms, comment)
        if judgment is not None:
            return judgment
    locked = Assignment.objects.select_for_update().get(pk=assignment.pk)
    if locked.status == Assignment.Status.SUBMITTED:
        judgment = Judgment.objects.get(assignment=locked)
        if judgment.choices != canonical:
            raise Conflict("This pair was already submitted with different answers; judgments cannot be changed.",
                           code="submitted")
        return judgment
    _check_live(locked, "submitted")
    now = timezone.now()
    judgment = Judgment.objects.create(
        pair_id=locked.pair_id, assignment=locked, annotator=annotator, choices=canonical, shown_left=locked.shown_left,
        duration_ms=duration_ms, comment=comment.strip(), is_gold=assignment.pair.is_gold,
    )
    Assignment.objects.filter(pk=locked.pk).update(status=Assignment.Status.SUBMITTED, finished_at=now)
    Pair.objects.filter(pk=locked.pair_id).update(done_count=F("done_count") + 1, leased_count=F("leased_count") - 1)
    return judgment


def assignment_submit_and_next(
    *, assignment: Assignment, annotator: AbstractBaseUser, choices: dict[str, str], duration_ms: int | None = None,
    comment: str = "", after: int | None = None,
) -> tuple[Judgment, Assignment | None]:
    """Submit, then lease what :func:`assignment_next` would give: one request per judgment.

    Two transactions, not one: the judgment commits before the claim, so if the claim fails the retry finds
    the judgment (and returns it) instead of judging twice. The claim is the same as ``next``'s, so the same
    two-lease limit holds: ``after`` is the pair the page has prefetched.
    """
    judgment = assignment_submit(assignment=assignment, annotator=annotator, choices=choices,
                                 duration_ms=duration_ms, comment=comment)
    return judgment, assignment_next(project=assignment.pair.project, annotator=annotator, after=after)


@transaction.atomic
def assignment_skip(*, assignment: Assignment, annotator: AbstractBaseUser, reason: str = "") -> Assignment:
    """Give the pair back for someone else; this annotator will not see it again. Repeating it is harmless."""
    _check_owner(assignment, annotator)
    reason = reason.strip()
    if len(reason) > MAX_SKIP_REASON_CHARS:
        raise InvalidInput(f"reason is longer than {MAX_SKIP_REASON_CHARS} characters.", fields={"reason": ["too long"]})
    locked = Assignment.objects.select_for_update().get(pk=assignment.pk)
    if locked.status == Assignment.Status.SKIPPED:
        return locked
    _check_live(locked, "skipped")
    locked.status = Assignment.Status.SKIPPED
    locked.skip_reason = reason
    locked.finished_at = timezone.now()
    locked.save(update_fields=["status", "skip_reason", "finished_at"])
    Pair.objects.filter(pk=locked.pair_id).update(leased_count=F("leased_count") - 1)
    return locked
