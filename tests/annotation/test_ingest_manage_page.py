"""The manager page: upload, import jobs with per-row errors, videos by status, pair generation."""

import json
import shutil

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from annotation.models import ImportJob, Pair, Video
from annotation.services.imports import import_job_run
from annotation.services.ingest import video_ingest
from tests.annotation.media_clips import bad, clip
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def browser(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.fixture
def page(project_world):
    return {**project_world, "url": f"/projects/{project_world['project'].pk}/manage/",
            "client": browser(project_world["users"]["manager"])}


def test_the_page_lists_videos_with_status_and_errors_and_counts(page):
    project = page["project"]
    ready, _ = video_ingest(project=project, path=clip(60), prompt_text="a lighthouse at night", model_name="m1",
                            process_now=True)
    failed, _ = video_ingest(project=project, path=bad("truncated-faststart.mp4"), prompt_text="p", model_name="m2",
                             process_now=True)
    html = page["client"].get(page["url"]).content.decode()
    assert "a lighthouse at night" in html and f"/videos/{ready.pk}/file/?variant=poster" in html
    assert "The video does not decode to the end" in html
    assert '<strong data-count="ready">1</strong>' in html and '<strong data-count="failed">1</strong>' in html
    only_failed = page["client"].get(page["url"] + "?status=failed").content.decode()
    assert "a lighthouse at night" not in only_failed and f'data-video="{failed.pk}"' in only_failed


@pytest.mark.parametrize("role, status", [("annotator", 403), ("other_manager", 404), ("admin", 200)])
def test_only_managers_and_admins_open_the_page(page, role, status):
    assert browser(page["users"][role]).get(page["url"]).status_code == status


def test_logged_out_users_are_sent_to_log_in(page):
    assert Client().get(page["url"]).url.startswith("/login/")


def test_an_upload_from_the_page(page):
    data = {"action": "upload", "upload-file": SimpleUploadedFile("dog.mp4", clip(61).read_bytes()),
            "upload-prompt": "a dog", "upload-model": "m1", "upload-seed": "3"}
    response = page["client"].post(page["url"], data, follow=True)
    video = Video.objects.get()
    assert (video.original_name, video.seed, video.prompt.text) == ("dog.mp4", 3, "a dog")
    assert f"Video {video.pk} uploaded; a media worker is processing it." in response.content.decode()


def test_a_bad_upload_shows_the_reason_on_the_form(page):
    data = {"action": "upload", "upload-file": SimpleUploadedFile("notes.mp4", bad("text.mp4").read_bytes()),
            "upload-prompt": "p", "upload-model": "m"}
    response = page["client"].post(page["url"], data)
    assert response.status_code == 400 and "This is a text file, not a video." in response.content.decode()
    assert not Video.objects.exists()


def test_an_oversized_upload_is_refused_before_it_is_read(page, settings):
    settings.MAX_UPLOAD_BYTES = 100
    data = {"action": "upload", "upload-file": SimpleUploadedFile("big.mp4", clip(62).read_bytes()),
            "upload-prompt": "p", "upload-model": "m"}
    response = page["client"].post(page["url"], data, follow=True)
    assert "the limit is 0.0 MiB" in response.content.decode() and not Video.objects.exists()


def test_an_import_from_the_page_shows_progress_and_row_errors(page, settings, tmp_path):
    settings.IMPORT_ROOT = tmp_path
    shutil.copy(clip(63), tmp_path / "a.mp4")
    rows = [{"prompt": "p", "video": "a.mp4", "model": "m"}, {"prompt": "p", "video": "../x.mp4", "model": "m"}]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    response = page["client"].post(page["url"], {"action": "import", "import-manifest": "m.jsonl"}, follow=True)
    job = ImportJob.objects.get()
    assert f"Import job {job.pk} queued: 2 rows (manifest)." in response.content.decode()
    assert 'data-live="1"' in response.content.decode(), "manage.js follows it until it finishes"
    import_job_run(job=job)
    html = page["client"].get(page["url"]).content.decode()
    assert "1</span> done" in html and "1</span> failed" in html
    assert "row 2: &#x27;../x.mp4&#x27; contains &#x27;..&#x27;; paths must stay inside the import root." in html


def test_pairs_from_the_page(page):
    project = page["project"]
    for seed, model in ((64, "m1"), (65, "m2"), (66, "m3")):
        video_ingest(project=project, path=clip(seed), prompt_text="p", model_name=model, process_now=True)
    response = page["client"].post(page["url"], {"action": "pairs", "pairs-strategy": "all"}, follow=True)
    assert "3 new pairs (all)." in response.content.decode() and Pair.objects.count() == 3
    missing = page["client"].post(page["url"], {"action": "pairs", "pairs-strategy": "random"})
    assert missing.status_code == 400 and "needs per_prompt" in missing.content.decode()
