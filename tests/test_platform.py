"""The platform itself: OpenAPI schema, production checks, Celery wiring."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

from tests.conftest import REPO

pytestmark = pytest.mark.django_db


def test_openapi_schema_validates_as_openapi_3(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    from drf_spectacular.validation import validate_schema

    schema = response.json()
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)
    assert "/api/v1/projects/{project_id}/members/" in schema["paths"]


def test_openapi_schema_explains_fields_with_the_models_help_text(client):
    schemas = client.get("/api/schema/?format=json").json()["components"]["schemas"]

    assert schemas["ProjectOutput"]["properties"]["overlap"]["description"].startswith("Judgments each pair collects")
    assert "sweeper" in schemas["RunOutput"]["properties"]["heartbeat_at"]["description"]


def test_api_docs_page_renders(client):
    assert client.get("/api/docs/").status_code == 200


def test_check_deploy_is_clean_under_production_settings():
    env = {k: v for k, v in os.environ.items() if k not in {"VIDPREF_DEV", "DEBUG", "DJANGO_SETTINGS_MODULE"}}
    env.update(SECRET_KEY="x" * 20 + "production-secret-" + "y" * 30, ALLOWED_HOSTS="vidpref.example.com",
               DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres", DJANGO_SETTINGS_MODULE="config.settings")
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k not in {"VIDPREF_DEV", "DEBUG", "SECRET_KEY"}}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_celery_is_configured_for_safe_redelivery():
    from config.celery import app

    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    assert {q.name for q in app.conf.task_queues} == {"default", "media", "gpu", "gpu-multi"}
    assert settings.CELERY_BROKER_URL.startswith("redis://")
