"""A generation's page in headless Chromium: "Send to annotators" says "sent" by itself when the job (a real Celery
worker) is done, and the human-evaluation table fills in as annotators judge, without a reload."""

import pytest
from playwright.sync_api import expect

from annotation.models import Membership
from rewardlab.services import runner, submit
from tests.conftest import client_for, make_user
from tests.frontend.conftest import log_in
from tests.rewardlab import world

TINY_SAMPLING = {"num_frames": 5, "height": 32, "width": 32, "steps": 2, "guidance_scale": 1.0}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_send_status_and_the_human_eval_table_follow_the_work_live(live_server, celery_worker, browser_page,
                                                                       orm_beside_playwright):
    project = world.build_project(name="Human eval page")
    version = world.export_version(project)
    generator = world.tiny_generator()
    admin = make_user("eval_admin", staff=True)
    dpo = submit.alignment_run_create(
        created_by=admin, dataset_version=version, method="flow_dpo", base_model_path=str(generator),
        hyperparameters={"max_steps": 1, "batch_size": 2, "micro_batch_size": 2, "lora_r": 4, "lora_alpha": 8, "lr": 0.05,
                         "num_frames": 1, "height": 32, "width": 64}, enqueue=False)
    assert runner.execute_run(run_id=dpo.pk).status == "succeeded"
    generation = submit.generation_create(created_by=admin, project=project, base_model_path=str(generator),
                                          prompts=["a red ball"], seeds=[0, 1], alignment_run_id=dpo.pk,
                                          hyperparameters=TINY_SAMPLING, enqueue=False)
    assert runner.execute_run(run_id=generation.pk).status == "succeeded"

    page = browser_page
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server, admin.username, f"/runs/{generation.pk}/")
    expect(page.locator("figcaption").filter(has_text="(baseline)")).to_have_count(2)
    expect(page.locator("select[name=strategy]")).to_have_value("baseline")
    page.get_by_role("button", name="Send to annotators").click()
    round_line = page.locator("[data-field=round]")
    expect(round_line).to_contain_text("sent: 4 videos", timeout=60_000)  # no reload: the page follows the job
    table = page.locator("[data-human-eval]")
    expect(table.locator("[data-field=judged]")).to_have_text("0 of 2 pairs judged")
    expect(table.locator("[data-field=pairs] a")).to_have_count(4)  # A and B of each new pair

    annotator = make_user("eval_judge")
    Membership.objects.create(project=project, user=annotator, role="annotator")
    client = client_for(annotator)
    while (lease := client.post(f"/api/v1/projects/{project.pk}/assignments/next/")).status_code == 200:
        choices = {"vq": "tie", "mq": "tie", "ta": "tie", "overall": "tie"}
        assert client.post(f"/api/v1/assignments/{lease.json()['id']}/submit/", {"choices": choices, "duration_ms": 3000},
                           format="json").status_code == 200

    expect(table.locator("[data-field=judged]")).to_have_text("2 of 2 pairs judged", timeout=20_000)
    row = table.locator("tr[data-dimension=vq]")
    expect(row.locator("th")).to_have_text("Visual Quality")
    expect(row.locator("[data-field=win_rate]")).to_have_text("0.500")
    expect(row.locator("[data-field=ci95]")).to_have_text("0.500 – 0.500")
    expect(row.locator("[data-field=counts]")).to_have_text("0 / 2 / 0")
    expect(row.locator("[data-field=bar]")).to_be_visible()
    expect(row.locator("[data-field=reward]")).to_have_text("—")  # no promoted reward model in this project
    assert errors == []

    page.goto(f"{live_server.url}/runs/{dpo.pk}/")  # the alignment run's page shows what people made of its adapter
    expect(page.locator("[data-human-eval] tr[data-dimension=overall] [data-field=counts]")).to_have_text("0 / 2 / 0")
    page.get_by_role("link", name="Generate with this adapter").click()  # the next round starts from here
    form = page.locator("#generation-form")
    expect(form.locator("select[name=alignment_run]")).to_have_value(str(dpo.pk))
    expect(form.locator("select[name=base_model_path]")).to_have_value(str(generator))
    expect(form.locator("input[name='hp.steps']")).to_have_value("8")  # the tiny model's suggestions still apply

    form.locator("textarea[name=prompts]").fill("a blue cube")
    form.locator("details.params summary").click()
    form.locator("input[name='hp.width']").fill("832")  # beyond what tiny-wan can make
    form.get_by_role("button", name="Generate").click()
    error = form.locator("[data-role=error]")
    expect(error).to_contain_text("at most 512")
    assert error.inner_text().count("at most 512") == 1  # said once
    expect(form.locator("input[name='hp.width']")).to_have_attribute("aria-invalid", "true")
    assert errors == []
