"""The manager's datasets page: versions with their statistics, and the form that asks for a new one."""

import re

import pytest
from django.test import Client

from annotation.models import DatasetVersion
from annotation.services.exports import dataset_version_create, dataset_version_export
from tests.annotation.exports_world import build_world
from tests.conftest import make_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("own_export_root")]

FORM = {"formats": ["jsonl", "rewardbench"], "granularity": "consensus", "train": "0.5", "val": "0.25", "test": "0.25",
        "seed": "4", "include_videos": "", "dimensions": ["vq", "mq", "ta", "overall"], "annotators": "",
        "include_imported": "on", "min_judgments": "1"}


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_page_lists_versions_with_statistics_and_download_links():
    world = build_world()
    version = dataset_version_create(project=world.project, created_by=world.manager, formats=["jsonl", "csv"],
                                     name="First cut", enqueue=False)
    version = dataset_version_export(version_id=version.pk)
    queued = dataset_version_create(project=world.project, created_by=world.manager, formats=["jsonl"], enqueue=False)
    response = page_client(world.manager).get(f"/projects/{world.project.pk}/datasets/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "v1" in html and "First cut" in html and version.sha256[:16] in html
    assert f"{version.row_counts['rows']} rows" in html and f"{version.row_counts['prompts']} prompts" in html
    assert f"/api/v1/exports/{version.pk}/download/dataset.csv" in html
    assert f'data-version="{queued.pk}" data-live="1"' in html  # the script follows it
    assert "ann1" not in html.split("New version")[0]


def test_form_creates_a_version_and_shows_errors_from_the_service():
    world = build_world()
    client = page_client(world.manager)
    response = client.post(f"/projects/{world.project.pk}/datasets/", FORM)
    assert response.status_code == 302 and response["Location"].endswith("#v1")
    version = DatasetVersion.objects.get()
    assert version.splits == {"train": 0.5, "val": 0.25, "test": 0.25} and version.seed == 4
    assert version.formats == ["jsonl", "rewardbench"] and version.filters["include_imported"] is True

    response = client.post(f"/projects/{world.project.pk}/datasets/", {**FORM, "train": "0.9"})
    assert response.status_code == 400 and "sum to 1.4" in response.content.decode()
    response = client.post(f"/projects/{world.project.pk}/datasets/", {**FORM, "annotators": "ann1, nobody"})
    assert response.status_code == 400 and "No user named &#x27;nobody&#x27;" in response.content.decode()
    assert DatasetVersion.objects.count() == 1


def test_page_is_for_managers_only():
    world = build_world()
    url = f"/projects/{world.project.pk}/datasets/"
    assert page_client(world.annotators["ann1"]).get(url).status_code == 403
    assert page_client(make_user("stranger")).get(url).status_code == 404
    assert page_client(world.annotators["ann1"]).post(url, FORM).status_code == 403
    assert Client().get(url).status_code == 302  # to the login page
    assert DatasetVersion.objects.count() == 0


def preview_of(html: str) -> dict:
    """{split: (prompts, pairs, rows)} from the page's preview table."""
    rows = re.findall(r'<tr data-split="(\w+)"><th>\w+</th><td>[^<]*</td><td class="num">(\d+)</td>\s*'
                      r'<td class="num">(\d+)</td><td class="num">(\d+)</td></tr>', html)
    return {name: tuple(int(n) for n in counts) for name, *counts in rows}


@pytest.mark.parametrize("granularity", ["consensus", "raw"])
def test_the_form_previews_each_split_as_the_version_will_hold_it(granularity):
    world = build_world()
    client = page_client(world.manager)
    query = {**FORM, "granularity": granularity}
    preview = preview_of(client.get(f"/projects/{world.project.pk}/datasets/preview/", query).content.decode())

    assert client.post(f"/projects/{world.project.pk}/datasets/", query).status_code == 302
    version = dataset_version_export(version_id=DatasetVersion.objects.get().pk)
    made = {name: (s["prompts"], s["pairs"], s["rows"]) for name, s in version.row_counts["splits"].items()}
    assert preview == {name: made.get(name, (0, 0, 0)) for name in ("train", "val", "test")}


def test_a_split_that_would_be_empty_is_named_before_the_version_is_made():
    world = build_world()  # six prompts, as in a first small project
    client = page_client(world.manager)
    page = preview_of(client.get(f"/projects/{world.project.pk}/datasets/").content.decode())
    # The defaults; the sixth prompt has only a gold pair, which versions leave out unless asked.
    assert set(page) == {"train", "val", "test"} and sum(p for p, _, _ in page.values()) == 5

    html = client.get(f"/projects/{world.project.pk}/datasets/preview/",
                      {**FORM, "train": "0.98", "val": "0.01", "test": "0.01"}).content.decode()
    empty = [name for name, (prompts, _, _) in preview_of(html).items() if prompts == 0]
    assert empty
    assert re.findall(r'data-role="split-warning">(\w+) would be empty', html) == empty
    assert client.get(f"/projects/{world.project.pk}/datasets/preview/", {**FORM, "val": "0"}).status_code == 200
    assert "would be empty" not in client.get(f"/projects/{world.project.pk}/datasets/preview/",
                                              {**FORM, "train": "0.5", "val": "0", "test": "0.5"}).content.decode()
    assert DatasetVersion.objects.count() == 0  # previews make nothing


def test_outcomes_use_the_projects_labels_in_its_order_and_a_form_error_is_printed_once_at_its_field():
    world = build_world()
    client = page_client(world.manager)
    assert client.post(f"/projects/{world.project.pk}/datasets/", FORM).status_code == 302
    dataset_version_export(version_id=DatasetVersion.objects.get().pk)
    html = client.get(f"/projects/{world.project.pk}/datasets/").content.decode()
    outcomes = re.findall(r"<div>([A-Z][\w ]+): \d+ / \d+ / \d+ / \d+</div>", html)
    assert outcomes == [d["label"] for d in world.project.dimensions]

    html = client.post(f"/projects/{world.project.pk}/datasets/", {**FORM, "annotators": "ann1, nobody"}).content.decode()
    assert html.count("No user named") == 1
    field = html[html.index('<div class="field-error">'):]
    assert field.index('name="annotators"') < field.index("No user named") < field.index("</div>")
    html = client.post(f"/projects/{world.project.pk}/datasets/", {**FORM, "train": "0.9"}).content.decode()
    assert html.count("sum to 1.4") == 1 and 'name="train"' in html[html.index('<div class="field-error">'):]
