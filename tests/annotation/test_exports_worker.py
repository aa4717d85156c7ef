"""A dataset version through the real Celery worker: POST, the job runs on the worker, GET shows the result."""

import pytest
from django.conf import settings

from annotation.models import DatasetVersion
from tests.annotation.exports_world import build_world
from tests.conftest import client_for, wait_until


@pytest.mark.django_db(transaction=True)
def test_the_worker_writes_the_version_the_api_asked_for(celery_worker):
    world = build_world()
    client = client_for(world.manager)
    response = client.post(f"/api/v1/projects/{world.project.pk}/exports/",
                           {"formats": ["jsonl", "parquet", "hf"], "granularity": "raw"}, format="json")
    assert response.status_code == 202, response.content
    version_id = response.json()["id"]

    def finished():
        version = DatasetVersion.objects.get(pk=version_id)
        return version if version.status in ("succeeded", "failed") else None

    version = wait_until(finished, timeout=120)
    assert version.status == "succeeded", version.error
    body = client.get(f"/api/v1/exports/{version_id}/").json()
    assert body["sha256"] == version.sha256 and body["row_counts"]["rows"] == 14
    assert (settings.EXPORT_ROOT / version.folder / "hf" / "dataset_dict.json").is_file()
