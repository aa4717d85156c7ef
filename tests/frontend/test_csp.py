"""A Content-Security-Policy on every page: scripts only from our own static files, never inline."""

import pytest
from django.test import Client

from tests.frontend.conftest import log_in

PAGES = ["/login/", "/", "/runs/", "/runs/evaluations/", "/admin/", "/api/docs/", "/api/schema/", "/no-such-page/",
         "/projects/{p}/manage/", "/projects/{p}/annotate/", "/projects/{p}/quality/", "/projects/{p}/datasets/",
         "/projects/{p}/quality/review/"]


def directives(header: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


@pytest.mark.parametrize("path", PAGES)
def test_every_page_carries_a_csp_without_inline_script(project_world, path):
    client = Client()
    client.force_login(project_world["users"]["admin"])
    response = client.get(path.format(p=project_world["project"].pk))
    policy = directives(response["Content-Security-Policy"])
    assert "'unsafe-inline'" not in policy["script-src"] and "'self'" in policy["script-src"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_runs_project_filter_still_applies_on_change_under_the_csp(live_server, browser_page, orm_beside_playwright):
    from annotation.models import Project
    from tests.conftest import make_user

    make_user("csp-admin", staff=True)
    project = Project.objects.create(name="CSP project")
    violations = []
    browser_page.on("console", lambda message: "Content Security Policy" in message.text and violations.append(message.text))
    log_in(browser_page, live_server, "csp-admin", "/runs/")
    for path in ("/runs/", "/runs/evaluations/"):
        browser_page.goto(live_server.url + path)
        browser_page.select_option("select[name=project]", str(project.pk))
        browser_page.wait_for_url(f"**{path}?project={project.pk}")
    assert violations == []
