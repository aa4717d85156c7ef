"""The manager's datasets page: versions with their statistics, and the form that asks for a new one."""

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
