"""Every /api/ error, from any input, is a 4xx (or an honest 500) in the one JSON error shape."""

import json

import pytest
from django.test import Client

NESTED = "[" * 100_000 + "]" * 100_000


def assert_error_shape(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"code", "message", "fields"} and error["message"]
    if code:
        assert error["code"] == code
    return error


@pytest.mark.parametrize("path", ["/api/v1/auth/token/", "/api/v1/projects/"])
def test_deeply_nested_json_is_a_400_not_a_recursion_error(project_world, path):
    client = project_world["clients"]["manager"]
    response = client.generic("POST", path, NESTED, content_type="application/json")
    error = assert_error_shape(response, 400, "malformed_json")
    assert "nested too deeply" in error["message"]


def test_a_project_created_with_a_lease_past_its_column_is_a_400_naming_it(project_world):
    client = project_world["clients"]["manager"]
    response = client.post("/api/v1/projects/", {"name": "big", "lease_seconds": 2**31, "max_width": 2**31}, format="json")
    assert set(assert_error_shape(response, 400, "invalid")["fields"]) == {"lease_seconds", "max_width"}


@pytest.mark.parametrize("path, field", [
    ("leaderboard/?seed=-1", "seed"),
    ("leaderboard/?rounds=99999", "rounds"),
    ("adjudications/?offset=99999999999999999999", "offset"),
    ("videos/?offset=99999999999999999999", "offset"),
    ("quality/?min_gold_answers=99999999999999999999", "min_gold_answers"),
])
def test_query_parameters_out_of_range_are_a_400_naming_them(project_world, path, field):
    response = project_world["clients"]["manager"].get(f"/api/v1/projects/{project_world['project'].pk}/{path}")
    assert field in assert_error_shape(response, 400, "invalid")["fields"]


@pytest.mark.parametrize("query, field", [
    ("status=bogus", "status"), ("offset=-1", "offset"), ("offset=abc", "offset"), ("limit=abc", "limit"),
    ("limit=0", "limit"), ("limit=99999999999999999999", "limit"),
])
def test_a_video_list_filter_it_does_not_know_is_a_400_naming_it(project_world, query, field):
    response = project_world["clients"]["manager"].get(f"/api/v1/projects/{project_world['project'].pk}/videos/?{query}")
    assert field in assert_error_shape(response, 400, "invalid")["fields"]


def test_an_unknown_media_variant_is_a_400_naming_it(project_world):
    from tests.factories import VideoFactory

    video = VideoFactory(project=project_world["project"])
    response = project_world["clients"]["manager"].get(
        f"/api/v1/projects/{video.project_id}/videos/{video.pk}/file/?variant=thumbnail")
    error = assert_error_shape(response, 400, "invalid")
    assert "variant" in error["fields"] and "thumbnail" in error["message"]


def test_run_progress_after_out_of_range_is_a_400(project_world):
    from rewardlab.models import Run

    run = Run.objects.create(kind="reward_train", project=project_world["project"], name="r", config={})
    response = project_world["clients"]["admin"].get(f"/api/v1/runs/{run.pk}/progress/?after=99999999999999999999")
    assert "after" in assert_error_shape(response, 400, "invalid")["fields"]


def test_an_unknown_api_path_is_a_json_404_and_pages_keep_their_html_404(project_world):
    assert_error_shape(project_world["clients"]["manager"].get("/api/v1/no-such-thing/"), 404, "not_found")
    page = Client().get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_a_body_over_the_upload_limit_is_a_json_413(project_world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = project_world["clients"]["manager"]
    body = json.dumps({"name": "x" * 2000})
    assert_error_shape(client.generic("POST", "/api/v1/projects/", body, content_type="application/json"), 413, "too_large")
    form = client.post("/api/v1/auth/token/", {"username": "x" * 2000, "password": "p"}, format="multipart")
    assert_error_shape(form, 413, "too_large")


def test_an_unexpected_failure_is_a_json_500(project_world, monkeypatch):
    def broken(user):
        raise RuntimeError("a bug")

    monkeypatch.setattr("annotation.api.projects.projects_visible_to", broken)
    client = project_world["clients"]["manager"]
    client.raise_request_exception = False
    assert_error_shape(client.get("/api/v1/projects/"), 500, "server_error")


@pytest.mark.parametrize("path, body, field", [
    ("/api/v1/generations/", {"project": 1, "base_model_path": "x", "prompts": ["p"], "seeds": [2**64]}, "seeds"),
    ("/api/v1/reward-evals/", {"reward_model": 2**70}, "reward_model"),
    ("/api/v1/reward-runs/", {"dataset_version": -3, "base_model_path": "x"}, "dataset_version"),
])
def test_run_inputs_out_of_their_columns_range_are_a_400_naming_them(project_world, path, body, field):
    response = project_world["clients"]["admin"].post(path, body, format="json")
    assert field in assert_error_shape(response, 400, "invalid")["fields"]
