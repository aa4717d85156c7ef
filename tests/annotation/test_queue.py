"""The annotation queue: leases, overlap, breadth-first order, expiry, skips, gold mixing, concurrency."""

import random
import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count, F
from django.utils import timezone

from annotation.models import Assignment, Judgment, Pair
from annotation.services.assignment import (
    CLAIM_WINDOW,
    _claim_portable,
    assignment_next,
    assignment_submit,
    leases_expire,
)
from annotation.services.gold import gold_mark
from tests.annotation.queue_world import add_annotators, clip_key, make_pairs
from tests.conftest import client_for
from tests.factories import JudgmentFactory
from workers.assignments import expire_leases

ANSWERS = {"vq": "left", "mq": "tie", "ta": "right", "overall": "left"}


def next_url(project) -> str:
    return f"/api/v1/projects/{project.pk}/assignments/next/"


def submit(client, assignment_id: int, choices=ANSWERS, **extra):
    return client.post(f"/api/v1/assignments/{assignment_id}/submit/", {"choices": choices, "duration_ms": 4000, **extra},
                       format="json")


def single_pair_for_two(world):
    """One pair that needs one judgment, and API clients for two annotators of the project."""
    project = world["project"]
    project.overlap = 1
    project.save()
    pair = make_pairs(project, 1)[0]
    return pair, world["clients"]["annotator"], client_for(add_annotators(project, ["second"])[0])


def work_through(client, project) -> list[int]:
    """Lease and submit until the queue says 204; returns the pairs judged."""
    judged = []
    while (response := client.post(next_url(project))).status_code == 200:
        assert submit(client, response.data["id"]).status_code == 200
        judged.append(Assignment.objects.get(pk=response.data["id"]).pair_id)
    assert response.status_code == 204
    return judged


def test_next_leases_a_pair_showing_only_prompt_sides_dimensions_and_guidelines(project_world):
    project, client = project_world["project"], project_world["clients"]["annotator"]
    project.guidelines = "Judge each dimension on its own."
    project.save()
    pair = make_pairs(project, 1, playback=(clip_key("plain"), clip_key("noisy", noise=30)))[0]

    response = client.post(next_url(project))

    assert response.status_code == 200
    body = response.data
    assignment = Assignment.objects.get(pk=body["id"])
    assert assignment.pair == pair and assignment.status == "leased" and assignment.shown_left in ("A", "B")
    assert body["prompt"] == pair.prompt.text and body["guidelines"] == "Judge each dimension on its own."
    assert body["left"]["video"] == f"/api/v1/assignments/{assignment.pk}/media/left"
    assert body["right"]["video"] == f"/api/v1/assignments/{assignment.pk}/media/right"
    assert [d["key"] for d in body["dimensions"]] == ["vq", "mq", "ta", "overall"]
    text = response.content.decode()
    for secret in ("model-alpha", "model-beta", "test-clips", ".mp4", pair.video_a.sha256, '"A"', '"B"'):
        assert secret not in text
    assert Pair.objects.get(pk=pair.pk).leased_count == 1


def test_next_returns_your_live_lease_again_after_a_reload(project_world):
    project, client = project_world["project"], project_world["clients"]["annotator"]
    make_pairs(project, 3)

    first = client.post(next_url(project)).data["id"]
    again = client.post(next_url(project)).data["id"]

    assert again == first
    assert Assignment.objects.filter(status="leased").count() == 1


def test_after_leases_a_second_pair_to_prefetch_and_never_a_third(project_world):
    project, client = project_world["project"], project_world["clients"]["annotator"]
    make_pairs(project, 4)

    current = client.post(next_url(project)).data["id"]
    prefetched = client.post(next_url(project), {"after": current}, format="json").data["id"]
    back = client.post(next_url(project), {"after": prefetched}, format="json").data["id"]
    again = client.post(next_url(project), {"after": current}, format="json").data["id"]

    assert prefetched != current and back == current and again == prefetched
    assert Assignment.objects.filter(status="leased").count() == 2
    assert submit(client, current).status_code == 200
    # The page then shows the prefetched pair and asks for the one after it.
    following = client.post(next_url(project), {"after": prefetched}, format="json").data["id"]
    assert following not in (current, prefetched)


def test_an_annotator_never_gets_the_same_pair_twice(project_world):
    project, client = project_world["project"], project_world["clients"]["annotator"]
    pairs = make_pairs(project, 3)

    judged = work_through(client, project)

    assert sorted(judged) == sorted(p.pk for p in pairs)
    assert set(Pair.objects.values_list("done_count", "leased_count")) == {(1, 0)}


def test_each_pair_gets_exactly_overlap_judgments_from_different_annotators(project_world):
    project = project_world["project"]
    pairs = make_pairs(project, 4)
    users = add_annotators(project, ["ann1", "ann2", "ann3", "ann4", "ann5"])

    for user in users:
        work_through(client_for(user), project)

    assert set(Pair.objects.values_list("done_count", "leased_count")) == {(3, 0)}
    per_pair = Judgment.objects.values("pair").annotate(n=Count("id"), people=Count("annotator", distinct=True))
    assert {(row["n"], row["people"]) for row in per_pair} == {(3, 3)}
    assert Judgment.objects.count() == 3 * len(pairs)


def test_pairs_in_progress_are_finished_before_fresh_ones(project_world):
    project = project_world["project"]
    pairs = make_pairs(project, 6)
    started = max(pairs, key=lambda p: p.shuffle_key)  # last in the random order among fresh pairs
    Pair.objects.filter(pk=started.pk).update(done_count=1)

    lease = assignment_next(project=project, annotator=project_world["users"]["annotator"])

    assert lease.pair_id == started.pk


def test_an_annotator_who_judged_every_pair_at_the_front_gets_a_fresh_one(project_world):
    """Fewer people than the overlap leave many open pairs this annotator has judged; the claim looks past them."""
    project, ahead = project_world["project"], project_world["users"]["annotator"]
    started = make_pairs(project, CLAIM_WINDOW + 5)
    for pair in started:
        JudgmentFactory(pair=pair, annotator=ahead, choices=dict.fromkeys(project.dimension_keys, "A"))
    fresh = make_pairs(project, 2, seed=1)

    lease = assignment_next(project=project, annotator=ahead)
    other = assignment_next(project=project, annotator=add_annotators(project, ["newcomer"])[0])

    assert lease.pair_id in {p.pk for p in fresh}
    assert other.pair_id in {p.pk for p in started}  # breadth-first for someone who can finish them


def test_expired_lease_goes_back_to_the_queue_and_cannot_be_submitted(project_world):
    project = project_world["project"]
    pair, first, second = single_pair_for_two(project_world)

    lease = first.post(next_url(project)).data["id"]
    assert second.post(next_url(project)).status_code == 204
    Assignment.objects.filter(pk=lease).update(expires_at=timezone.now() - timedelta(seconds=1))

    taken = second.post(next_url(project))
    assert taken.status_code == 200 and Assignment.objects.get(pk=taken.data["id"]).pair_id == pair.pk
    late = submit(first, lease)
    assert late.status_code == 409 and late.data["error"]["code"] == "lease_expired"
    assert "expired" in late.data["error"]["message"]
    assert Assignment.objects.get(pk=lease).status == "expired"
    assert (Pair.objects.get(pk=pair.pk).done_count, Pair.objects.get(pk=pair.pk).leased_count) == (0, 1)
    assert Judgment.objects.count() == 0


def test_sweep_expires_stale_leases_and_frees_their_slots(project_world):
    project = project_world["project"]
    make_pairs(project, 2)
    users = add_annotators(project, ["s1", "s2", "s3"])
    leases = [assignment_next(project=project, annotator=u) for u in users]
    Assignment.objects.filter(pk__in=[a.pk for a in leases[:2]]).update(expires_at=timezone.now() - timedelta(minutes=1))

    assert leases_expire() == 2
    assert leases_expire() == 0

    assert Assignment.objects.filter(status="expired").count() == 2
    live = Counter(Assignment.objects.filter(status="leased").values_list("pair_id", flat=True))
    assert {p.pk: p.leased_count for p in Pair.objects.all()} == {p.pk: live.get(p.pk, 0) for p in Pair.objects.all()}


def test_the_periodic_sweep_task_expires_every_lapsed_lease(project_world):
    project = project_world["project"]
    make_pairs(project, 3)
    for user in add_annotators(project, ["t1", "t2", "t3", "t4"]):
        assignment_next(project=project, annotator=user)
    Assignment.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert expire_leases() == 4

    assert not Assignment.objects.filter(status="leased").exists()
    assert set(Pair.objects.values_list("leased_count", flat=True)) == {0}


def test_your_own_lapsed_lease_can_come_back_to_you(project_world):
    project, annotator = project_world["project"], project_world["users"]["annotator"]
    pair = make_pairs(project, 1)[0]
    lease = assignment_next(project=project, annotator=annotator)
    Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    renewed = assignment_next(project=project, annotator=annotator)

    assert renewed.pk == lease.pk and renewed.pair_id == pair.pk
    assert renewed.status == "leased" and renewed.expires_at > timezone.now()
    assert Pair.objects.get(pk=pair.pk).leased_count == 1


def test_skipped_pair_goes_to_someone_else_and_never_back_to_the_skipper(project_world):
    project = project_world["project"]
    pair, skipper, other = single_pair_for_two(project_world)

    lease = skipper.post(next_url(project)).data["id"]
    skipped = skipper.post(f"/api/v1/assignments/{lease}/skip/", {"reason": "The left video does not play."}, format="json")

    assert skipped.status_code == 200 and skipped.data["status"] == "skipped"
    assert Assignment.objects.get(pk=lease).skip_reason == "The left video does not play."
    assert skipper.post(f"/api/v1/assignments/{lease}/skip/", {}, format="json").status_code == 200  # repeat: harmless
    assert Pair.objects.get(pk=pair.pk).leased_count == 0
    assert skipper.post(next_url(project)).status_code == 204
    assert Assignment.objects.get(pk=other.post(next_url(project)).data["id"]).pair_id == pair.pk


def test_gold_pairs_are_mixed_in_and_look_like_any_other_pair(project_world):
    project = project_world["project"]
    project.gold_ratio = 1.0
    project.save()
    ordinary, gold = make_pairs(project, 2)
    gold_mark(pair=gold, choices={"overall": "A"}, created_by=project_world["users"]["manager"])
    client = project_world["clients"]["annotator"]

    first = client.post(next_url(project)).data
    assert Assignment.objects.get(pk=first["id"]).pair_id == gold.pk
    assert submit(client, first["id"]).status_code == 200
    second = client.post(next_url(project)).data
    assert Assignment.objects.get(pk=second["id"]).pair_id == ordinary.pk

    assert first.keys() == second.keys() and first["left"].keys() == second["left"].keys()
    assert Judgment.objects.get(pair=gold).is_gold and not Pair.objects.get(pk=ordinary.pk).is_gold
    assert Pair.objects.get(pk=gold.pk).target > project.overlap  # everyone may be scored on it


def test_gold_pairs_are_never_served_alone(project_world):
    project, annotator = project_world["project"], project_world["users"]["annotator"]
    project.gold_ratio = 0.0
    project.save()
    gold = make_pairs(project, 1)[0]
    gold_mark(pair=gold, choices={"vq": "B"}, created_by=project_world["users"]["manager"])

    assert assignment_next(project=project, annotator=annotator) is None


def test_portable_claim_follows_the_same_rules(project_world):
    """The SQLite path (make run) on the same data: breadth-first, one slot each, never a pair twice."""
    project, annotator = project_world["project"], project_world["users"]["annotator"]
    pairs = make_pairs(project, 3)
    started = max(pairs, key=lambda p: p.shuffle_key)
    Pair.objects.filter(pk=started.pk).update(done_count=2)

    first = _claim_portable(project=project, annotator=annotator, gold=False, shown_left="B")
    assert Assignment.objects.get(pk=first).pair_id == started.pk
    assert Pair.objects.get(pk=started.pk).leased_count == 1
    second = _claim_portable(project=project, annotator=annotator, gold=False, shown_left="A")
    assert Assignment.objects.get(pk=second).pair_id != started.pk
    assert _claim_portable(project=project, annotator=annotator, gold=True, shown_left="A") is None


def test_progress_counts_todays_judgments_and_what_the_project_still_needs(project_world):
    project, client = project_world["project"], project_world["clients"]["annotator"]
    make_pairs(project, 2)
    work_through(client, project)

    progress = client.get(f"/api/v1/projects/{project.pk}/progress/")

    assert progress.status_code == 200
    assert progress.data["done_today"] == 2
    assert progress.data["remaining"] == 2 * 3 - 2


def test_a_submit_shows_in_the_project_figure_at_once_though_it_is_cached(project_world,
                                                                         django_capture_on_commit_callbacks):
    project, client = project_world["project"], project_world["clients"]["annotator"]
    make_pairs(project, 2)
    progress_url = f"/api/v1/projects/{project.pk}/progress/"
    assert client.get(progress_url).data == {"done_today": 0, "remaining": 2 * 3}  # now cached
    lease = client.post(next_url(project)).data

    with django_capture_on_commit_callbacks(execute=True):
        assert submit(client, lease["id"]).status_code == 200

    assert client.get(progress_url).data == {"done_today": 1, "remaining": 2 * 3 - 1}


def test_only_members_may_ask_for_pairs(project_world):
    project, clients = project_world["project"], project_world["clients"]
    make_pairs(project, 1)

    assert clients["other_manager"].post(next_url(project)).status_code == 404
    assert clients["anonymous"].post(next_url(project)).status_code == 401
    assert clients["manager"].post(next_url(project)).status_code == 200


def test_media_streams_ranges_to_the_lease_holder_only(project_world):
    project, client = project_world["project"], project_world["clients"]["annotator"]
    make_pairs(project, 1, playback=(clip_key("plain"), clip_key("noisy", noise=30)))
    lease = client.post(next_url(project)).data
    other = client_for(add_annotators(project, ["nosy"])[0])

    full = client.get(lease["left"]["video"])
    part = client.get(lease["right"]["video"], HTTP_RANGE="bytes=0-99")

    assert full.status_code == 200 and full["Content-Type"] == "video/mp4"
    assert b"ftyp" in b"".join(full.streaming_content)[:16]
    assert part.status_code == 206 and part["Content-Length"] == "100"
    for response in (full, part):
        assert "Content-Disposition" not in response
    assert other.get(lease["left"]["video"]).status_code == 404
    assert client.get(f"/api/v1/assignments/{lease['id']}/media/middle").status_code == 404
    submit(client, lease["id"])
    assert client.get(lease["left"]["video"]).status_code == 404  # only while the lease is live


def test_submit_with_next_returns_the_next_pair_in_the_same_response(project_world):
    project, client = project_world["project"], project_world["clients"]["annotator"]
    make_pairs(project, 2)
    current = client.post(next_url(project)).data["id"]

    response = submit(client, current, next=True)

    assert response.status_code == 200
    body = response.data
    assert body["status"] == "submitted" and body["choices"] == ANSWERS
    following = Assignment.objects.get(pk=body["next"]["id"])
    assert following.status == "leased" and following.pk != current
    assert body["next"]["left"]["video"] == f"/api/v1/assignments/{following.pk}/media/left"
    assert Judgment.objects.get().assignment_id == current
    # A retried POST gets the same judgment and the same next pair, and judges nothing twice.
    again = submit(client, current, next=True).data
    assert again["next"]["id"] == following.pk and Judgment.objects.count() == 1
    # The last pair: the answer says nothing is left instead of a pair.
    last = submit(client, following.pk, next=True)
    assert last.status_code == 200 and last.data["next"] is None
    assert Judgment.objects.count() == 2 and not Assignment.objects.filter(status="leased").exists()


def test_submit_with_next_after_a_prefetched_pair_never_holds_three_leases(project_world):
    project, client = project_world["project"], project_world["clients"]["annotator"]
    make_pairs(project, 5)
    current = client.post(next_url(project)).data["id"]
    prefetched = client.post(next_url(project), {"after": current}, format="json").data["id"]

    following = submit(client, current, next=True, after=prefetched).data["next"]["id"]
    without_after = submit(client, prefetched, next=True).data["next"]["id"]

    assert following not in (current, prefetched)
    assert without_after == following  # like next/: your oldest live lease first
    assert Assignment.objects.filter(status="leased").count() == 1
    assert submit(client, following, next=True, after=following).data["next"]["id"] not in (current, prefetched, following)
    assert Assignment.objects.filter(status="leased").count() == 1


def test_submit_with_next_refuses_bad_answers_without_leasing_anything(project_world):
    project, client = project_world["project"], project_world["clients"]["annotator"]
    make_pairs(project, 2)
    current = client.post(next_url(project)).data["id"]

    response = submit(client, current, choices={"vq": "left"}, next=True)

    assert response.status_code == 400 and "choices.mq" in response.json()["error"]["fields"]
    assert list(Assignment.objects.values_list("pk", flat=True)) == [current]
    assert not Judgment.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("one_request", [False, True], ids=["next-then-submit", "submit-and-next"])
def test_concurrent_annotators_keep_every_invariant(project_world, one_request):
    """16 threads, each its own database connection, race through next/submit/skip and retried submits, asking
    for the next pair with its own request or with the submit: on PostgreSQL the one-statement claim, on SQLite
    (``make run``) the portable one with its writers queued."""
    project = project_world["project"]
    pairs = make_pairs(project, 30)
    users = add_annotators(project, [f"racer{i}" for i in range(16)])
    start = threading.Barrier(len(users))
    submitted: dict[int, list[int]] = {}
    errors: list[str] = []

    def annotate(user, seed: int):
        rng, client, mine = random.Random(seed), client_for(user), []
        try:
            start.wait()
            lease = client.post(next_url(project))
            while lease.status_code == 200 and lease.data is not None:
                assignment_id = lease.data["id"]
                if rng.random() < 0.1:
                    client.post(f"/api/v1/assignments/{assignment_id}/skip/", {"reason": "race"}, format="json")
                    lease = client.post(next_url(project))
                    continue
                answers = {k: rng.choice(["left", "right", "tie"]) for k in ANSWERS}
                for _ in range(2 if rng.random() < 0.2 else 1):  # some clients retry their POST
                    response = submit(client, assignment_id, answers, next=one_request)
                    if response.status_code != 200:
                        errors.append(f"{user}: {response.status_code} {response.content[:200]}")
                    held = Assignment.objects.filter(annotator=user, status="leased").count()
                    if held > 1:
                        errors.append(f"{user}: holds {held} leases")
                mine.append(assignment_id)
                if one_request:
                    lease.status_code, lease.data = response.status_code, response.data["next"]
                else:
                    lease = client.post(next_url(project))
            if lease.status_code not in (200, 204):
                errors.append(f"{user}: next answered {lease.status_code}")
        except Exception as exc:  # e.g. SQLite's "database is locked": reported here, not lost in the thread
            errors.append(f"{user}: {exc!r}")
        finally:
            submitted[user.pk] = mine
            connection.close()

    threads = [threading.Thread(target=annotate, args=(u, i)) for i, u in enumerate(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    acknowledged = sorted(a for mine in submitted.values() for a in mine)
    # No lost submits: every acknowledged submit has its judgment, and no judgment was not acknowledged.
    assert sorted(Judgment.objects.values_list("assignment_id", flat=True)) == acknowledged
    # No duplicates: one judgment per annotator and pair.
    assert not Judgment.objects.values("pair", "annotator").annotate(n=Count("id")).filter(n__gt=1).exists()
    # Exactly the overlap per pair, counters equal to the rows. A pair can end short only when its last slot was
    # skipped after everyone else had been told that nothing was left.
    per_pair = dict(Judgment.objects.values_list("pair").annotate(n=Count("id")))
    assert {p.pk: p.done_count for p in Pair.objects.all()} == {p.pk: per_pair.get(p.pk, 0) for p in pairs}
    short = set(Pair.objects.filter(done_count__lt=3).values_list("pk", flat=True))
    assert short <= set(Assignment.objects.filter(status="skipped").values_list("pair_id", flat=True))
    assert len(short) <= 2
    assert not Assignment.objects.filter(status="leased").exists()
    assert not Pair.objects.filter(done_count__gt=F("target")).exists()


def test_submit_service_maps_left_and_right_back_to_the_canonical_order(project_world):
    project, annotator = project_world["project"], project_world["users"]["annotator"]
    make_pairs(project, 1)
    lease = assignment_next(project=project, annotator=annotator)
    Assignment.objects.filter(pk=lease.pk).update(shown_left="B")
    lease.refresh_from_db()

    judgment = assignment_submit(assignment=lease, annotator=annotator, choices=ANSWERS, duration_ms=1)

    assert judgment.choices == {"vq": "B", "mq": "tie", "ta": "A", "overall": "B"}
    assert judgment.shown_left == "B"
