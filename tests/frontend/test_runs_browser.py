"""End to end in headless Chromium with a real Celery worker: an admin starts a tiny reward run on the Runs
page, watches its progress reach 100%, and promotes the checkpoint it registered."""

import pytest
from django.db import connection
from django.test import Client
from playwright.sync_api import expect

from rewardlab.models import Run
from rewardlab.services.runs import run_cancel
from rewardlab.services.submit import reward_run_create
from tests.conftest import PASSWORD, make_user, start_worker, stop_worker, wait_until
from tests.frontend.conftest import log_in
from tests.rewardlab import world

QUEUE = "gpu-rewardlab-browser"


@pytest.fixture
def gpu_worker(settings):
    settings.RUN_QUEUE = QUEUE  # the live server queues runs where only this worker listens
    proc = start_worker(queues=QUEUE, concurrency=1, extra_env={**world.WORKER_ENV, "RUN_QUEUE": QUEUE})
    yield proc
    stop_worker(proc)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_admin_starts_a_tiny_reward_run_and_sees_its_progress_reach_100(live_server, gpu_worker, browser_page,
                                                                         orm_beside_playwright):
    project = world.build_project(name="Browser runs")
    version = world.export_version(project)
    base = world.tiny_reward_base()
    generator = world.tiny_generator()
    admin = make_user("runs_admin", staff=True)
    manager = make_user("runs_manager")
    project.memberships.create(user=manager, role="manager")
    outsider = Client()
    outsider.login(username=manager.username, password=PASSWORD)
    assert outsider.get("/runs/").status_code == 403

    page = browser_page
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server, admin.username, "/runs/")

    # Choosing a base model fills in the settings it suggests (the tiny models': small videos, short runs).
    generation = page.locator("#generation-form")
    generation.locator("select[name=base_model_path]").select_option(str(generator))
    expect(generation.locator("input[name='hp.width']")).to_have_value("32")
    expect(generation.locator("input[name='hp.steps']")).to_have_value("8")

    form = page.locator("#reward-run-form")
    form.locator("select[name=dataset_version]").select_option(str(version.pk))
    form.locator("select[name=base_model_path]").select_option(str(base))
    expect(form.locator("input[name='hp.max_steps']")).to_have_value("40")
    form.locator("input[name=name]").fill("from the browser")
    form.locator("input[name=dimensions]").fill("vq, mq")
    form.locator("summary").click()
    for name, value in world.TINY_REWARD_SETTINGS.items():
        field = form.locator(f"input[name='hp.{name}']")
        if field.count():  # settings the form hides (min_pixels) keep their defaults
            field.fill(str(value))
    form.locator("button[type=submit]").click()

    page.wait_for_url("**/runs/*/")
    expect(page.locator("[data-field=percent]")).to_have_text("100%", timeout=120_000)
    expect(page.locator("[data-field=status]")).to_have_text("succeeded")
    expect(page.locator("table.compare")).to_contain_text("from the browser")  # the held-out evaluation
    expect(page.locator("table.compare thead")).to_contain_text("Visual Quality")  # labels, not keys
    assert page.locator("[data-field=log]").inner_text().count("phase train started") == 1
    # The curves: the loss has a point per training step, the accuracy a curve per dimension.
    loss = page.locator("#chart-loss polyline", has_text="loss")
    expect(loss).to_have_count(1)
    assert len(loss.get_attribute("points").split()) == world.TINY_REWARD_SETTINGS["max_steps"]
    expect(page.locator("#chart-acc svg")).to_contain_text("vq")
    expect(page.locator("#chart-acc svg")).to_contain_text("mq")

    page.get_by_role("button", name="Promote to the project's reward model").click()
    expect(page.get_by_text("The project's reward model")).to_be_visible()
    expect(page.get_by_text("It scores the project's videos")).to_be_visible()  # the promotion queued that

    # A run started elsewhere (here: as a shell command does) is announced on the runs list, which offers to
    # show it.
    page = page.context.new_page()  # the run page may still be reloading after the promotion
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/runs/")
    notice = page.locator("[data-role=new-runs]")
    expect(notice).to_be_hidden()
    script_run = reward_run_create(created_by=admin, dataset_version=version, base_model_path=str(base),
                                   name="from a script", enqueue=False)
    expect(notice).to_be_visible(timeout=30_000)
    run_cancel(run=script_run)  # no run left running: the list polls slowly again
    # The ORM ran inside Playwright's event loop, which gives it a connection of its own: close it now, or it
    # outlives the test database.
    connection.close()
    notice.locator("a").click()
    expect(page.locator("#runs-table")).to_contain_text("from a script")
    expect(notice).to_be_hidden()
    assert errors == []
    assert project.reward_models.get().is_active
    # Promoting it queued a scoring run of the project's videos, which the worker finishes.
    scoring = wait_until(lambda: Run.objects.filter(kind="scoring", status__in=Run.TERMINAL).first(), timeout=60)
    assert scoring.status == "succeeded", scoring.error
