"""Managers' media route: Range slices, conditional requests, nginx offload, presigned redirects, access."""

import socket
import urllib.request

import pytest
from django.conf import settings

from annotation import storage
from annotation.models import Video
from annotation.services.ingest import video_ingest
from config.media_storage import media_storage
from tests.annotation.media_clips import clip

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready(project_world):
    video, _ = video_ingest(project=project_world["project"], path=clip(20, seconds=2.0), prompt_text="p",
                            model_name="m", process_now=True)
    assert video.status == Video.Status.READY, video.error
    data = (settings.MEDIA_ROOT / video.playback).read_bytes()
    return {**project_world, "video": video, "data": data, "url": f"/api/v1/projects/{video.project_id}/videos/{video.pk}/file/"}


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def get(world, role="manager", **headers):
    return world["clients"][role].get(world["url"], headers=headers)


def test_the_whole_file_comes_with_range_support_and_no_file_name(ready):
    response = get(ready)
    assert response.status_code == 200 and body(response) == ready["data"]
    assert response["Content-Type"] == "video/mp4" and response["Accept-Ranges"] == "bytes"
    assert response["Content-Length"] == str(len(ready["data"]))
    assert "Content-Disposition" not in response


@pytest.mark.parametrize("header, first, last", [
    ("bytes=0-99", 0, 99),
    ("bytes=100-", 100, None),
    ("bytes=-50", -50, None),
    ("bytes=10-99999999", 10, None),
])
def test_a_range_returns_exactly_that_slice(ready, header, first, last):
    data, size = ready["data"], len(ready["data"])
    start = first % size
    end = size - 1 if last is None else last
    response = get(ready, Range=header)
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {start}-{end}/{size}"
    assert response["Content-Length"] == str(end - start + 1)
    assert body(response) == data[start:end + 1]


def test_a_range_past_the_end_is_416_with_the_size(ready):
    size = len(ready["data"])
    response = get(ready, Range=f"bytes={size}-")
    assert response.status_code == 416 and response["Content-Range"] == f"bytes */{size}"


@pytest.mark.parametrize("header", ["bytes=abc", "bytes=0-1,5-9", "items=0-9", "bytes=9-3"])
def test_ranges_we_do_not_serve_get_the_whole_file(ready, header):
    response = get(ready, Range=header)
    assert response.status_code == 200 and body(response) == ready["data"]


def test_if_range_applies_the_range_only_to_the_same_version(ready):
    etag = get(ready)["ETag"]
    assert get(ready, Range="bytes=0-9", **{"If-Range": etag}).status_code == 206
    assert get(ready, Range="bytes=0-9", **{"If-Range": '"stale"'}).status_code == 200


def test_a_cached_copy_is_revalidated_with_304(ready):
    etag = get(ready)["ETag"]
    response = get(ready, **{"If-None-Match": etag})
    assert response.status_code == 304 and body(response) == b""


def test_head_sends_headers_without_the_body(ready):
    response = ready["clients"]["manager"].head(ready["url"], headers={"Range": "bytes=0-9"})
    assert response.status_code == 206 and response["Content-Length"] == "10" and body(response) == b""


def test_poster_and_original_variants(ready):
    client, url, video = ready["clients"]["manager"], ready["url"], ready["video"]
    poster = client.get(url + "?variant=poster")
    assert poster.status_code == 200 and poster["Content-Type"] == "image/jpeg" and body(poster)[:2] == b"\xff\xd8"
    original = client.get(url + "?variant=original")
    assert body(original) == (settings.MEDIA_ROOT / video.original).read_bytes()
    assert client.get(url + "?variant=secret").status_code == 400


def test_a_pending_video_has_no_playback_file_yet(ready):
    Video.objects.filter(pk=ready["video"].pk).update(status="pending", playback="")
    response = get(ready)
    assert response.status_code == 409 and "pending" in response.json()["error"]["message"]


@pytest.mark.parametrize("role, status", [("admin", 200), ("annotator", 403), ("other_manager", 404), ("anonymous", 401)])
def test_only_the_projects_managers_and_admins_get_the_file(ready, role, status):
    assert get(ready, role).status_code == status


def test_a_video_of_another_project_is_not_found_through_this_one(ready):
    url = f"/api/v1/projects/{ready['other'].pk}/videos/{ready['video'].pk}/file/"
    assert ready["clients"]["admin"].get(url).status_code == 404


def test_nginx_serves_the_bytes_when_accel_redirect_is_configured(ready, settings):
    settings.MEDIA_ACCEL_REDIRECT_PREFIX = "/protected-media/"
    response = get(ready, Range="bytes=0-9")
    assert response.status_code == 200 and response.content == b""
    assert response["X-Accel-Redirect"] == f"/protected-media/{ready['video'].playback}"
    assert response["Content-Type"] == "video/mp4"


@pytest.fixture
def s3_bucket(settings, monkeypatch):
    """An S3-compatible server (moto's, over real HTTP) with an empty bucket, made the media storage from the
    environment variables production uses."""
    boto3 = pytest.importorskip("boto3")
    moto_server = pytest.importorskip("moto.server")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"AWS_STORAGE_BUCKET_NAME": "vidpref-media", "AWS_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}",
           "AWS_S3_REGION_NAME": "us-east-1", "AWS_S3_ADDRESSING_STYLE": "path", "AWS_QUERYSTRING_EXPIRE": "600",
           "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    boto3.client("s3", endpoint_url=env["AWS_S3_ENDPOINT_URL"], region_name="us-east-1").create_bucket(
        Bucket=env["AWS_STORAGE_BUCKET_NAME"])
    settings.STORAGES = {**settings.STORAGES, "default": media_storage()}
    yield env
    server.stop()


def test_with_s3_storage_videos_are_processed_through_it_and_served_by_presigned_redirect(project_world, s3_bucket):
    assert storage.local_root() is None
    video, _ = video_ingest(project=project_world["project"], path=clip(21), prompt_text="p", model_name="m",
                            process_now=True)
    assert video.status == Video.Status.READY, video.error
    assert storage.storage().exists(video.playback) and storage.storage().exists(video.poster)

    url = f"/api/v1/projects/{video.project_id}/videos/{video.pk}/file/"
    response = project_world["clients"]["manager"].get(url)
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(f"{s3_bucket['AWS_S3_ENDPOINT_URL']}/vidpref-media/{video.playback}?")
    assert "X-Amz-Signature=" in location and "X-Amz-Expires=600" in location  # signed (v4), short-lived

    with storage.storage().open(video.playback) as f:
        stored = f.read()
    with urllib.request.urlopen(location) as direct:  # the player follows the redirect to the bucket
        assert direct.read() == stored
    with urllib.request.urlopen(urllib.request.Request(location, headers={"Range": "bytes=0-99"})) as part:
        assert part.status == 206 and part.read() == stored[:100]
    assert project_world["clients"]["annotator"].get(url).status_code == 403
