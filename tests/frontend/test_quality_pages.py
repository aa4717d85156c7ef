"""The manager's quality and adjudication pages: who may open them, and (in Chromium) that they draw and decide."""

import pytest

from annotation.models import Adjudication, Membership, Project
from annotation.services.gold import gold_mark
from tests.annotation.queue_world import add_annotators, clip_key, make_pairs
from tests.conftest import make_user
from tests.factories import JudgmentFactory
from tests.frontend.conftest import log_in


def test_pages_follow_the_project_roles(project_world, client):
    project = project_world["project"]
    pages = [f"/projects/{project.pk}/annotate/", f"/projects/{project.pk}/quality/",
             f"/projects/{project.pk}/quality/review/"]

    client.force_login(project_world["users"]["annotator"])
    assert [client.get(url).status_code for url in pages] == [200, 403, 403]
    client.force_login(project_world["users"]["manager"])
    assert [client.get(url).status_code for url in pages] == [200, 200, 200]
    client.force_login(project_world["users"]["other_manager"])
    assert [client.get(url).status_code for url in pages] == [404, 404, 404]
    client.logout()
    assert client.get(pages[0]).status_code == 302  # to the login page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_manager_sees_charts_and_settles_an_undecided_pair(live_server, browser_page, orm_beside_playwright):
    project = Project.objects.create(name="Quality", overlap=2)
    manager = make_user("boss")
    Membership.objects.create(project=project, user=manager, role="manager")
    first, second = add_annotators(project, ["ann", "bea"])
    clips = (clip_key("quality-a"), clip_key("quality-b", noise=30))
    split, agreed = make_pairs(project, 2, models=("kling-x", "sora-y"), playback=clips)
    gold = make_pairs(project, 1, models=("kling-x", "sora-y"), playback=clips)[0]
    gold_mark(pair=gold, choices={"overall": "A"}, created_by=manager)
    keys = project.dimension_keys
    JudgmentFactory(pair=split, annotator=first, choices={k: "A" for k in keys}, duration_ms=6000)
    JudgmentFactory(pair=split, annotator=second, choices={k: "tie" for k in keys}, duration_ms=7000)  # A vs tie: no consensus
    JudgmentFactory(pair=agreed, annotator=first, choices={k: "B" for k in keys}, duration_ms=5000)
    JudgmentFactory(pair=agreed, annotator=second, choices={k: "B" for k in keys}, duration_ms=8000)
    JudgmentFactory(pair=gold, annotator=first, choices={k: "A" for k in keys}, duration_ms=6000)

    page = browser_page
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    log_in(page, live_server, "boss", f"/projects/{project.pk}/quality/")
    page.wait_for_selector("#leaderboard-chart circle")
    assert page.locator("#alpha-chart rect").count() == len(keys)
    assert page.locator("#annotator-chart circle").count() == 1  # only "ann" has gold answers
    assert page.inner_text("#leaderboard-chart").count("sora-y") == 1
    assert "ann" in page.inner_text("#annotators") and "bea" in page.inner_text("#annotators")

    page.click("text=Adjudication review")
    page.wait_for_selector(".review-pair")
    assert page.locator(".review-pair").count() == 1
    assert "kling-x" not in page.content() and "sora-y" not in page.content()  # the decision stays blind
    for row in range(len(keys)):
        page.locator(".review-pair .decisions .choice").nth(row).locator("button").nth(1).click()  # tie
    page.click("text=Save decision")
    page.wait_for_selector("text=Decided.")

    assert Adjudication.objects.get(pair=split).choices == {k: "tie" for k in keys}
    assert errors == []
