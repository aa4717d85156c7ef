"""The exports API and ``manage.py export_dataset``: the job, its status, downloads, who may, and bad input."""

import hashlib
import io
import json

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from annotation.models import DatasetVersion, Membership, Project
from annotation.services.exports import dataset_version_export
from tests.annotation.exports_world import build_world
from tests.conftest import client_for, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("own_export_root")]

REQUEST = {"formats": ["jsonl", "rewardbench"], "splits": {"train": 0.5, "val": 0.25, "test": 0.25}, "seed": 3}


@pytest.fixture
def world():
    world = build_world()
    world.client = client_for(world.manager)
    return world


def exported(world, **request) -> dict:
    response = world.client.post(f"/api/v1/projects/{world.project.pk}/exports/", {**REQUEST, **request}, format="json")
    assert response.status_code == 202, response.content
    dataset_version_export(version_id=response.json()["id"])  # what the Celery task does
    return world.client.get(f"/api/v1/exports/{response.json()['id']}/").json()


def test_post_queues_a_version_and_get_reports_its_result(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = world.client.post(f"/api/v1/projects/{world.project.pk}/exports/", REQUEST, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["number"], body["progress"], body["files"]) == ("queued", 1, 0.0, [])
    assert body["formats"] == ["jsonl", "rewardbench"] and body["filters"]["include_gold"] is False
    assert len(callbacks) == 1  # the Celery job, sent once the version row is committed

    dataset_version_export(version_id=body["id"])
    body = world.client.get(f"/api/v1/exports/{body['id']}/").json()
    assert body["status"] == "succeeded" and body["progress"] == 1.0 and len(body["sha256"]) == 64
    assert body["row_counts"]["rows"] == 7 and set(body["row_counts"]["splits"]) == {"train", "val", "test"}
    paths = [f["path"] for f in body["files"]]
    assert paths == ["manifest.json", "SHA256SUMS", "dataset.jsonl", "rewardbench_test.csv", "rewardbench_train.csv",
                     "rewardbench_val.csv"]
    listed = world.client.get(f"/api/v1/projects/{world.project.pk}/exports/").json()
    assert [v["id"] for v in listed] == [body["id"]]


def test_download_is_the_file_and_honours_range(world):
    body = exported(world)
    jsonl = next(f for f in body["files"] if f["path"] == "dataset.jsonl")
    assert jsonl["url"].endswith(f"/api/v1/exports/{body['id']}/download/dataset.jsonl")
    response = world.client.get(jsonl["url"])
    data = b"".join(response.streaming_content)
    assert response.status_code == 200 and response["Content-Type"] == "application/jsonl"
    assert hashlib.sha256(data).hexdigest() == jsonl["sha256"] and len(data) == jsonl["bytes"]
    assert f"project{world.project.pk}-v1-dataset.jsonl" in response["Content-Disposition"]
    partial = world.client.get(jsonl["url"], HTTP_RANGE="bytes=10-19")
    assert partial.status_code == 206 and b"".join(partial.streaming_content) == data[10:20]
    assert partial["Content-Range"] == f"bytes 10-19/{len(data)}"
    sums = world.client.get(f"/api/v1/exports/{body['id']}/download/SHA256SUMS")
    assert hashlib.sha256(b"".join(sums.streaming_content)).hexdigest() == body["sha256"]


@pytest.mark.parametrize("path", ["../../../etc/passwd", "dataset.csv", "videos/" + "0" * 64 + ".mp4", "hf/x"])
def test_download_of_anything_not_in_the_version_is_404(world, path):
    body = exported(world)
    response = world.client.get(f"/api/v1/exports/{body['id']}/download/{path}")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_download_before_the_export_finished_is_409(world):
    response = world.client.post(f"/api/v1/projects/{world.project.pk}/exports/", REQUEST, format="json")
    download = world.client.get(f"/api/v1/exports/{response.json()['id']}/download/dataset.jsonl")
    assert download.status_code == 409 and download.json()["error"]["code"] == "not_ready"


@pytest.mark.parametrize("role,expected", [("anonymous", 401), ("annotator", 403), ("outsider", 404)])
def test_only_managers_create_read_or_download_versions(world, role, expected):
    body = exported(world)
    before = sorted(p.name for p in (settings.EXPORT_ROOT / str(world.project.pk)).iterdir())
    user = None
    if role == "annotator":
        user = world.annotators["ann1"]
    elif role == "outsider":
        user = make_user("outsider")
        other = Project.objects.create(name="Elsewhere")
        Membership.objects.create(project=other, user=user, role="manager")
    client = client_for(user)
    urls = [f"/api/v1/exports/{body['id']}/", f"/api/v1/exports/{body['id']}/download/dataset.jsonl",
            f"/api/v1/projects/{world.project.pk}/exports/"]
    for url in urls:
        assert client.get(url).status_code == expected, url
    response = client.post(f"/api/v1/projects/{world.project.pk}/exports/", REQUEST, format="json")
    assert response.status_code == expected and set(response.json()["error"]) == {"code", "message", "fields"}
    assert DatasetVersion.objects.count() == 1
    assert sorted(p.name for p in (settings.EXPORT_ROOT / str(world.project.pk)).iterdir()) == before


@pytest.mark.parametrize("change,code,field", [
    ({"formats": ["jsonl", "xlsx"]}, "unknown_format", "formats"),
    ({"formats": []}, "invalid", "formats"),
    ({"splits": {"train": 0.8, "test": 0.1}}, "invalid", "splits"),
    ({"splits": {"train": 0.9, "val": 0.2}}, "invalid", "splits"),
    ({"granularity": "per-annotator"}, "invalid", "granularity"),
    ({"include_videos": "rar"}, "invalid", "include_videos"),
    ({"seed": -1}, "invalid", "seed"),
    ({"filters": {"favourite_colour": "red"}}, "invalid", "filters"),
    ({"filters": {"annotators": ["nobody"]}}, "invalid", "filters.annotators"),
    ({"filters": {"dimensions": ["smell"]}}, "invalid", "filters.dimensions"),
    ({"filters": {"min_agreement": 1.5}}, "invalid", "filters.min_agreement"),
    ({"filters": {"created_from": "last tuesday"}}, "invalid", "filters.created_from"),
    ({"filters": {"created_from": "2025-04-01", "created_to": "2025-03-01"}}, "invalid", "filters.created_to"),
    ({"filters": {"created_from": "2030-01-01"}}, "empty_selection", None),
    ({"filters": {"annotators": []}}, "empty_selection", None),
])
def test_bad_requests_are_refused_with_a_reason_and_nothing_is_written(world, change, code, field):
    response = world.client.post(f"/api/v1/projects/{world.project.pk}/exports/", {**REQUEST, **change}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    if field:
        assert field in error["fields"]
    assert DatasetVersion.objects.count() == 0
    assert not (settings.EXPORT_ROOT / str(world.project.pk)).exists()


def test_empty_selection_message_says_what_to_do(world):
    response = world.client.post(f"/api/v1/projects/{world.project.pk}/exports/",
                                 {**REQUEST, "filters": {"created_to": "2020-01-01"}}, format="json")
    assert "No judgments match" in response.json()["error"]["message"]


def test_rewardbench_needs_one_of_the_videoalign_dimensions(world):
    world.project.dimensions = [{"key": "realism", "label": "Realism", "description": ""}]
    world.project.save()
    response = world.client.post(f"/api/v1/projects/{world.project.pk}/exports/", REQUEST, format="json")
    assert response.status_code == 400 and "vq, mq, ta, overall" in response.json()["error"]["message"]


def test_the_command_writes_a_version_like_the_api(world):
    out = io.StringIO()
    call_command("export_dataset", str(world.project.pk), "--format", "jsonl", "--format", "parquet",
                 "--splits", "train=0.5,val=0.25,test=0.25", "--seed", "3", "--granularity", "raw",
                 "--annotator", "ann1", stdout=out, stderr=io.StringIO())
    version = DatasetVersion.objects.get()
    assert version.status == "succeeded" and version.sha256 in out.getvalue()
    rows = [json.loads(line) for line in (settings.EXPORT_ROOT / version.folder / "dataset.jsonl").open()]
    assert len(rows) == version.row_counts["rows"] == 5  # ann1's judgments outside the gold pair
    with pytest.raises(CommandError, match="Unknown format 'xlsx'"):
        call_command("export_dataset", str(world.project.pk), "--format", "xlsx", stdout=io.StringIO())
    with pytest.raises(CommandError, match="--splits wants"):
        call_command("export_dataset", str(world.project.pk), "--format", "jsonl", "--splits", "train:1",
                     stdout=io.StringIO())
    assert DatasetVersion.objects.count() == 1
