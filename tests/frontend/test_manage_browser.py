"""End to end in headless Chromium with a real media worker: upload, import, live progress, play a video."""

import json
import shutil
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from tests.annotation.media_clips import clip
from tests.conftest import make_user
from tests.frontend.conftest import log_in


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_manager_uploads_imports_and_watches_progress_live(live_server, celery_worker, browser_page,
                                                             orm_beside_playwright):
    from annotation.models import Membership, Project

    project = Project.objects.create(name="Browser manage")
    Membership.objects.create(project=project, user=make_user("boss"), role="manager")
    folder = Path(settings.IMPORT_ROOT) / f"browser-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    shutil.copy(clip(70), folder / "a.mp4")
    rows = [{"prompt": "a kite", "video": "a.mp4", "model": "m2"}, {"prompt": "a kite", "video": "/etc/passwd", "model": "m2"}]
    (folder / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows))

    page = browser_page
    page.set_default_timeout(30_000)
    log_in(page, live_server, "boss", f"/projects/{project.pk}/manage/")

    page.set_input_files("#id_upload-file", str(clip(71)))
    page.fill("#id_upload-prompt", "a kite")
    page.fill("#id_upload-model", "m1")
    page.click("#upload button.primary")
    page.wait_for_selector("text=uploaded; a media worker is processing it")

    page.fill("#id_import-manifest", f"{folder.name}/m.jsonl")
    page.click("#import button.primary")
    page.wait_for_selector("text=queued: 2 rows (manifest)")

    # No reload from here: manage.js brings the job's row error and the videos' posters in.
    page.wait_for_selector(".row-errors li:has-text(\"row 2: '/etc/passwd' is an absolute path\")", state="attached")
    page.wait_for_function("() => document.querySelector('[data-count=\"ready\"]').textContent === '2'")
    page.wait_for_selector("tr[data-video] .thumb a.play img")
    page.click("tr[data-video] .thumb a.play")
    page.wait_for_function("() => document.querySelector('#player video').readyState >= 2")
    assert page.evaluate("() => document.querySelector('#player').open")
    page.click("#player button")

    page.select_option("#id_pairs-strategy", "all")
    page.click("#pairs button.primary")
    page.wait_for_selector("text=1 new pairs (all).")
