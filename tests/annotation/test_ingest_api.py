"""Upload and list videos through the API; a real media worker processes them."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.models import Video
from tests.annotation.media_clips import bad, clip
from tests.conftest import make_user, wait_until

pytestmark = pytest.mark.django_db


def upload(client, project_id: int, path, **fields):
    data = {"file": SimpleUploadedFile(path.name, path.read_bytes()), "prompt": "a cat surfing", "model": "model-a", **fields}
    return client.post(f"/api/v1/projects/{project_id}/videos/", data, format="multipart")


def test_a_manager_uploads_a_video_and_the_same_file_again_returns_it(project_world):
    client, project = project_world["clients"]["manager"], project_world["project"]
    response = upload(client, project.pk, clip(30), seed="42", meta='{"sampler": "euler"}')
    assert response.status_code == 201, response.json()
    video = response.json()
    assert (video["status"], video["prompt"], video["model"], video["seed"], video["meta"]) == (
        "pending", "a cat surfing", "model-a", 42, {"sampler": "euler"})
    assert video["original_name"] == clip(30).name and video["file_url"] is None
    again = upload(client, project.pk, clip(30))
    assert again.status_code == 200 and again.json()["id"] == video["id"]


@pytest.mark.parametrize("kind, message", [
    ("text.mp4", "This is a text file, not a video."),
    ("empty.mp4", "The file is empty (0 bytes)."),
    ("image.png", "This is a still image (png), not a video."),
    ("audio.m4a", "The file has only audio, no video stream."),
    ("drawing.svg", "This is a still image (svg), not a video."),
])
def test_a_bad_upload_is_a_400_with_the_reason_and_writes_nothing(project_world, kind, message):
    response = upload(project_world["clients"]["manager"], project_world["project"].pk, bad(kind))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_media"
    assert response.json()["error"]["message"].startswith(message)
    assert not Video.objects.exists()


def test_an_upload_over_the_size_limit_is_413(project_world, settings):
    settings.MAX_UPLOAD_BYTES = 1000
    response = upload(project_world["clients"]["manager"], project_world["project"].pk, clip(31))
    assert response.status_code == 413 and response.json()["error"]["code"] == "file_too_large"
    assert "limit is 0.0 MiB (MAX_UPLOAD_BYTES)" in response.json()["error"]["message"]
    assert not Video.objects.exists()


def test_a_file_just_over_the_limit_inside_the_multipart_slack_is_still_413(project_world, settings):
    settings.MAX_UPLOAD_BYTES = clip(32).stat().st_size - 1
    response = upload(project_world["clients"]["manager"], project_world["project"].pk, clip(32))
    assert response.status_code == 413


@pytest.mark.parametrize("fields, field", [({"prompt": ""}, "prompt"), ({"model": ""}, "model"), ({"seed": "x"}, "seed"),
                                           ({"meta": "{not json"}, "meta"), ({"meta": '{"note": "a\\u0000b"}'}, "meta"),
                                           ({"meta": "[" * 100_000 + "]" * 100_000}, "meta")])
def test_missing_or_malformed_fields_are_a_400_naming_the_field(project_world, fields, field):
    response = upload(project_world["clients"]["manager"], project_world["project"].pk, clip(33), **fields)
    assert response.status_code == 400 and field in response.json()["error"]["fields"]


@pytest.mark.parametrize("role, status", [("annotator", 403), ("other_manager", 404), ("anonymous", 401), ("admin", 201)])
def test_only_managers_and_admins_upload(project_world, role, status):
    assert upload(project_world["clients"][role], project_world["project"].pk, clip(34)).status_code == status


def test_the_list_filters_by_status_and_pages(project_world):
    client, project = project_world["clients"]["manager"], project_world["project"]
    for seed in (35, 36, 37):
        upload(client, project.pk, clip(seed))
    Video.objects.filter(pk=Video.objects.order_by("id").first().pk).update(status="failed", error="broken")
    page = client.get(f"/api/v1/projects/{project.pk}/videos/?limit=2").json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    failed = client.get(f"/api/v1/projects/{project.pk}/videos/?status=failed").json()
    assert [(v["status"], v["error"]) for v in failed["results"]] == [("failed", "broken")]
    assert client.get(f"/api/v1/projects/{project.pk}/videos/?status=odd").status_code == 400
    assert project_world["clients"]["annotator"].get(f"/api/v1/projects/{project.pk}/videos/").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_a_media_worker_processes_uploads_and_survives_a_broken_one(celery_worker):
    from annotation.models import Membership, Project
    from tests.conftest import client_for

    project = Project.objects.create(name="worker")
    manager = make_user("worker-manager")
    Membership.objects.create(project=project, user=manager, role="manager")
    client = client_for(manager)
    broken = upload(client, project.pk, bad("truncated-faststart.mp4")).json()
    good = upload(client, project.pk, clip(38)).json()

    def status(video_id):
        return Video.objects.filter(pk=video_id).values_list("status", flat=True).first()

    wait_until(lambda: status(good["id"]) == "ready" and status(broken["id"]) == "failed", timeout=60)
    detail = client.get(f"/api/v1/projects/{project.pk}/videos/{broken['id']}/").json()
    assert detail["error"].startswith("The video does not decode to the end")
    ready = client.get(f"/api/v1/projects/{project.pk}/videos/{good['id']}/").json()
    assert client.get(ready["file_url"], headers={"Range": "bytes=0-3"}).status_code == 206
