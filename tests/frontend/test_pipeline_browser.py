"""The pipeline page in Chromium: the settings editor saves through the API (a refused setting shows the reason,
nothing changes) and the history chart draws."""

import json

import pytest

from rewardlab.models import Pipeline
from tests.conftest import make_user
from tests.frontend.conftest import log_in
from tests.rewardlab import world


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_admin_edits_the_pipeline_on_its_page(live_server, browser_page, orm_beside_playwright):
    project = world.build_project(name="Pipeline page")
    admin = make_user("pipe-page-admin", staff=True)
    page = browser_page
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_server, admin.username, f"/runs/pipeline/{project.pk}/")
    assert "no pipeline yet" in page.text_content("main")
    settings = {"enabled": True, "every_judgments": 40, "dataset": {"formats": ["jsonl"]},
                "reward": {"base_model_path": str(world.tiny_reward_base()), "hyperparameters": {"lr": 7}},
                "gate": {"mode": "never"}, "alignment": None}

    page.fill("textarea[name=settings]", json.dumps(settings))
    page.click("#pipeline-settings button[type=submit]")
    assert "lr must be between 0 and 1" in page.wait_for_selector("[data-role=message]:not(:empty)").text_content()
    assert not Pipeline.objects.filter(project=project).exists()

    settings["reward"]["hyperparameters"] = {"lr": 0.001}
    page.fill("textarea[name=settings]", json.dumps(settings))
    page.click("#pipeline-settings button[type=submit]")
    page.wait_for_selector("text=Every 40 new judgments")
    assert Pipeline.objects.get(project=project).updated_by == admin
    assert page.text_content("#pipeline-history svg") == "No points yet" and errors == []
