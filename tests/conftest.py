"""Shared fixtures: users and roles, API clients, a real Celery worker on the test database."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

REPO = Path(__file__).resolve().parent.parent
# The real clips and example CSV from VideoAlign ship in the repository (tests/fixtures/videoalign/README.md);
# VIDPREF_FIXTURES points the tests at another copy.
FIXTURES = Path(os.environ.get("VIDPREF_FIXTURES", REPO / "tests" / "fixtures" / "videoalign"))
PASSWORD = "correct-horse-battery"


def make_user(username: str, *, staff: bool = False):
    return get_user_model().objects.create_user(username=username, password=PASSWORD, is_staff=staff)


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def project_world(db):
    """A project with one user per role, plus a manager of another project."""
    from annotation.models import Membership, Project

    project = Project.objects.create(name="Main")
    other = Project.objects.create(name="Other")
    users = {
        "admin": make_user("admin", staff=True),
        "manager": make_user("manager"),
        "annotator": make_user("annotator"),
        "other_manager": make_user("other_manager"),
    }
    Membership.objects.create(project=project, user=users["manager"], role="manager")
    Membership.objects.create(project=project, user=users["annotator"], role="annotator")
    Membership.objects.create(project=other, user=users["other_manager"], role="manager")
    return {"project": project, "other": other, "users": users,
            "clients": {"anonymous": client_for(None), **{k: client_for(u) for k, u in users.items()}}}


def _wait_for_worker(proc: subprocess.Popen, env: dict, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the Celery worker exited at start; see its output above")
        ping = subprocess.run([sys.executable, "-m", "celery", "-A", "config", "inspect", "ping", "-t", "1"],
                              env=env, cwd=REPO, capture_output=True, text=True)
        if ping.returncode == 0:
            return
    raise RuntimeError("the Celery worker did not answer a ping within a minute")


def worker_database_url() -> str:
    """The test database as a DATABASE_URL, for the processes a test starts (a worker, a dev server)."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def start_worker(queues: str = "default,media,gpu", concurrency: int = 2, extra_env: dict | None = None,
                 purge: bool = True) -> subprocess.Popen:
    """A real Celery worker process on the test database (call inside django_db_blocker.unblock()); ``purge``
    first drops what earlier tests left on its queues (off when a test queued a task for this worker). A test that
    calls it is marked ``slow``; a fixture that calls it goes in WORKER_FIXTURES."""
    env = {**os.environ, "DATABASE_URL": worker_database_url(),
           "DJANGO_SETTINGS_MODULE": "config.settings_test", "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    if purge:
        subprocess.run([sys.executable, "-m", "celery", "-A", "config", "purge", "-f", "-Q", queues],
                       env=env, cwd=REPO, capture_output=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queues, "-c", str(concurrency),
         "-l", "warning", "--without-heartbeat", "--without-mingle", "--without-gossip"],
        env=env, cwd=REPO, start_new_session=True,
    )
    _wait_for_worker(proc, env)
    return proc


def stop_worker(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """One worker for the session; tests using it need @pytest.mark.django_db(transaction=True)."""
    with django_db_blocker.unblock():
        proc = start_worker()
    yield proc
    stop_worker(proc)


@pytest.fixture
def own_export_root(settings, tmp_path):
    """Dataset versions go to this test's own folder: on SQLite the ids of a rolled-back test come back, so
    ``EXPORT_ROOT/<project id>/`` would still hold an earlier test's versions."""
    settings.EXPORT_ROOT = tmp_path / "exports"


# Fixtures that start Celery worker processes: every test that uses one is `slow` (make test-fast leaves it out).
WORKER_FIXTURES = {"celery_worker", "run_worker", "pipeline_worker"}


def pytest_collection_modifyitems(items):
    for item in items:
        if WORKER_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.1):
    """Poll until predicate() is truthy (for work done by the worker process); returns its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
