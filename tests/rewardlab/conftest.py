"""Fixtures for the run tests: a Celery worker of our own on a queue of our own, and a trained-on project."""

import pytest

from config.celery import app
from tests.conftest import start_worker, stop_worker
from tests.ml.flow_helpers import one_cpu_thread
from tests.rewardlab import world
from tests.rewardlab.world import QUEUE


@pytest.fixture(autouse=True)
def one_thread():
    """Runs executed in this process train on one thread: the machine's cores are shared."""
    with one_cpu_thread():
        yield


@pytest.fixture(autouse=True)
def run_queue(settings):
    """Runs queue on QUEUE; what a test queued but ran in its own process is purged afterwards."""
    settings.RUN_QUEUE = QUEUE
    yield QUEUE
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(QUEUE)


@pytest.fixture(scope="module")
def run_worker(django_db_setup, django_db_blocker):
    """A real Celery worker on QUEUE: one pool process, fast heartbeats."""
    with django_db_blocker.unblock():
        proc = start_worker(queues=QUEUE, concurrency=1, extra_env=world.WORKER_ENV)
    yield proc
    stop_worker(proc)


@pytest.fixture
def trained_on():
    """A project with judged pairs, its exported dataset version, and a tiny reward base model."""
    project = world.build_project()
    return world.Trainable(project=project, version=world.export_version(project), base=world.tiny_reward_base())
