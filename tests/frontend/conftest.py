"""Headless Chromium (Debian's) for the page tests, through Playwright's sync API."""

import pytest
from django.db import connections
from playwright.sync_api import Page, sync_playwright

from tests.conftest import PASSWORD

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture
def browser_page():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        # A context of its own, so a test can open a second page on the same session (page.context.new_page()).
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.set_default_timeout(20_000)
        yield page
        browser.close()


LAPTOP = {"width": 1280, "height": 800}


@pytest.fixture
def laptop_page(browser_page):
    """The browser at a 1280x800 laptop's size, the smallest screen the annotator's page is made to fit."""
    browser_page.set_viewport_size(LAPTOP)
    return browser_page


@pytest.fixture
def orm_beside_playwright(browser_page, monkeypatch):
    """Playwright's sync API keeps an event loop running in this thread, so Django sees an async context and gets
    the ORM a connection of its own; the calls are still plain sync code. That connection is closed here."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    yield
    connections.close_all()


def log_in(page: Page, live_server, username: str, next_path: str) -> None:
    """Through the login form, landing on ``next_path``."""
    page.goto(f"{live_server.url}/login/?next={next_path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{next_path}")
