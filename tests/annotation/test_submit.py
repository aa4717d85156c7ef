"""Submitting and skipping: idempotent retries, bad input answered with the field named, nothing written on error."""

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import Assignment, Judgment, Pair
from tests.annotation.queue_world import add_annotators, make_pairs
from tests.conftest import client_for

ANSWERS = {"vq": "left", "mq": "tie", "ta": "right", "overall": "left"}


@pytest.fixture
def lease(project_world):
    """The annotator's lease on a fresh pair, shown with A on the left."""
    project = project_world["project"]
    pair = make_pairs(project, 1)[0]
    response = project_world["clients"]["annotator"].post(f"/api/v1/projects/{project.pk}/assignments/next/")
    Assignment.objects.filter(pk=response.data["id"]).update(shown_left="A")
    return {**project_world, "pair": pair, "id": response.data["id"], "client": project_world["clients"]["annotator"]}


def post_submit(client, assignment_id, body):
    return client.post(f"/api/v1/assignments/{assignment_id}/submit/", body, format="json")


def assert_nothing_written(pair):
    pair.refresh_from_db()
    assert Judgment.objects.count() == 0
    assert (pair.done_count, pair.leased_count) == (0, 1)
    assert Assignment.objects.get(pair=pair).status == "leased"


def test_submit_stores_canonical_choices_time_and_comment(lease):
    response = post_submit(lease["client"], lease["id"], {"choices": ANSWERS, "duration_ms": 5300, "comment": " blurry "})

    assert response.status_code == 200
    assert response.data == {"assignment": lease["id"], "status": "submitted", "choices": ANSWERS}
    judgment = Judgment.objects.get()
    assert judgment.choices == {"vq": "A", "mq": "tie", "ta": "B", "overall": "A"}
    assert (judgment.duration_ms, judgment.comment, judgment.annotator) == (5300, "blurry", lease["users"]["annotator"])
    pair = Pair.objects.get(pk=lease["pair"].pk)
    assert (pair.done_count, pair.leased_count) == (1, 0)


def test_a_retried_submit_returns_the_same_result_and_writes_nothing_more(lease):
    body = {"choices": ANSWERS, "duration_ms": 5300}
    first = post_submit(lease["client"], lease["id"], body)
    retry = post_submit(lease["client"], lease["id"], body)

    assert retry.status_code == 200 and retry.data == first.data
    assert Judgment.objects.count() == 1
    assert Pair.objects.get(pk=lease["pair"].pk).done_count == 1


def test_a_second_submit_with_other_answers_is_a_conflict(lease):
    post_submit(lease["client"], lease["id"], {"choices": ANSWERS})
    changed = post_submit(lease["client"], lease["id"], {"choices": {**ANSWERS, "vq": "right"}})

    assert changed.status_code == 409 and changed.data["error"]["code"] == "submitted"
    assert Judgment.objects.get().choices["vq"] == "A"


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"choices": {**ANSWERS, "colour": "left"}}, "choices.colour", "unknown dimension"),
    ({"choices": {"vq": "left", "mq": "left", "ta": "left"}}, "choices.overall", "missing"),
    ({"choices": {**ANSWERS, "vq": "A"}}, "choices.vq", "left, right or tie"),
    ({"choices": {**ANSWERS, "vq": "both"}}, "choices.vq", "left, right or tie"),
    ({"choices": {**ANSWERS, "vq": None}}, "choices", "null"),
    ({"choices": ["left", "right"]}, "choices", "dictionary"),
    ({}, "choices", "required"),
    ({"choices": ANSWERS, "duration_ms": -5}, "duration_ms", "out of range"),
    ({"choices": ANSWERS, "duration_ms": "fast"}, "duration_ms", "integer"),
    ({"choices": ANSWERS, "comment": "x" * 2001}, "comment", "too long"),
])
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(lease, body, field, words):
    response = post_submit(lease["client"], lease["id"], body)

    assert response.status_code == 400
    error = response.data["error"]
    assert error["code"] == "invalid" and field in error["fields"]
    assert words in " ".join(error["fields"][field]).lower() + error["message"].lower()
    assert_nothing_written(lease["pair"])


def test_malformed_json_is_a_400(lease):
    response = lease["client"].post(f"/api/v1/assignments/{lease['id']}/submit/", "{not json", content_type="application/json")

    assert response.status_code == 400 and response.data["error"]["code"] == "malformed_json"
    assert_nothing_written(lease["pair"])


def test_someone_elses_assignment_is_forbidden_and_strangers_get_404(lease):
    colleague = client_for(add_annotators(lease["project"], ["colleague"])[0])

    as_colleague = post_submit(colleague, lease["id"], {"choices": ANSWERS})
    as_stranger = post_submit(lease["clients"]["other_manager"], lease["id"], {"choices": ANSWERS})
    skip_by_colleague = colleague.post(f"/api/v1/assignments/{lease['id']}/skip/", {}, format="json")

    assert as_colleague.status_code == 403 and "another annotator" in as_colleague.data["error"]["message"]
    assert skip_by_colleague.status_code == 403
    assert as_stranger.status_code == 404
    assert post_submit(lease["client"], 999_999, {"choices": ANSWERS}).status_code == 404
    assert_nothing_written(lease["pair"])


def test_submit_after_the_lease_expired_is_a_409_with_what_to_do(lease):
    Assignment.objects.filter(pk=lease["id"]).update(expires_at=timezone.now() - timedelta(seconds=5))

    response = post_submit(lease["client"], lease["id"], {"choices": ANSWERS})

    assert response.status_code == 409
    assert response.data["error"]["code"] == "lease_expired" and "next pair" in response.data["error"]["message"]
    assert Judgment.objects.count() == 0


def test_a_skipped_pair_cannot_be_submitted_and_a_submitted_one_cannot_be_skipped(lease, project_world):
    client, project = lease["client"], lease["project"]
    client.post(f"/api/v1/assignments/{lease['id']}/skip/", {"reason": "cannot judge"}, format="json")
    assert post_submit(client, lease["id"], {"choices": ANSWERS}).data["error"]["code"] == "skipped"

    make_pairs(project, 1)
    other = client.post(f"/api/v1/projects/{project.pk}/assignments/next/").data["id"]
    post_submit(client, other, {"choices": ANSWERS})
    skip = client.post(f"/api/v1/assignments/{other}/skip/", {}, format="json")
    assert skip.status_code == 409 and skip.data["error"]["code"] == "submitted"


def test_skip_reason_over_the_limit_is_a_400(lease):
    response = lease["client"].post(f"/api/v1/assignments/{lease['id']}/skip/", {"reason": "r" * 501}, format="json")

    assert response.status_code == 400 and "reason" in response.data["error"]["fields"]
    assert_nothing_written(lease["pair"])
