"""The datasets page in headless Chromium: the new-version form previews rows and prompts per split as the manager
changes it, and names a split that would be empty, before any version is made."""

import pytest
from playwright.sync_api import expect

from annotation.models import DatasetVersion
from tests.annotation.exports_world import build_world
from tests.frontend.conftest import log_in


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_split_preview_follows_the_form(live_server, browser_page, orm_beside_playwright):
    world = build_world()
    page = browser_page
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server, world.manager.username, f"/projects/{world.project.pk}/datasets/")
    preview = page.locator("[data-role=preview]")
    expect(preview.locator("tr[data-split]")).to_have_count(3)

    for name, value in (("train", "0.98"), ("val", "0.01"), ("test", "0.01")):
        page.fill(f"input[name={name}]", value)
    expect(preview.locator("tr[data-split=train] td").first).to_have_text("0.98")
    expect(preview.locator("[data-role=split-warning]").first).to_contain_text("would be empty")

    for name, value in (("train", "0.5"), ("val", "0"), ("test", "0.5")):
        page.fill(f"input[name={name}]", value)
    expect(preview.locator("tr[data-split=test] td").first).to_have_text("0.5")
    expect(preview.locator("[data-role=split-warning]")).to_have_count(0)
    total = sum(int(preview.locator(f"tr[data-split={s}] td").nth(1).inner_text()) for s in ("train", "val", "test"))
    assert total == 5  # every prompt with a judged, non-gold pair, each in one split
    assert DatasetVersion.objects.count() == 0 and errors == []
