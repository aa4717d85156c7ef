"""A Redis restart loses no run: tasks persist in Redis's append-only file, and a task a worker holds (acks_late)
is not lost with the connection. Each test runs its own redis-server: the shared one must never restart."""

import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import redis
from celery import Celery

from config.celery import app
from rewardlab.models import Run
from tests.conftest import start_worker, stop_worker, wait_until
from tests.rewardlab import world
from tests.rewardlab.world import QUEUE, at_step, run_in, start_reward_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow,  # Celery workers, training
              pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")]


class OwnRedis:
    """A redis-server on a free port that writes every change to its append-only file before answering."""

    def __init__(self, folder: Path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.folder, self.url, self.proc = folder, f"redis://127.0.0.1:{self.port}/0", None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.folder),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],  # no snapshots: the AOF alone must do
            stdout=subprocess.DEVNULL)
        wait_until(self.answers, timeout=10)

    def stop(self) -> None:
        self.proc.terminate()  # SIGTERM: Redis's own clean shutdown
        self.proc.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def answers(self) -> bool:
        try:
            return redis.Redis(port=self.port).ping()
        except redis.ConnectionError:
            return False

    def queued(self) -> int:
        return redis.Redis(port=self.port).llen(QUEUE)

    def held(self) -> int:
        """Messages delivered to a worker and not acked yet (kombu keeps them in this hash)."""
        return redis.Redis(port=self.port).hlen("unacked")


@pytest.fixture
def own_redis(tmp_path):
    """Our redis-server as the Celery broker of this process and of the workers it starts.

    This process sends through an app of its own, made current for the test (the tasks are shared tasks, so they
    go through the current app), configured as the project's app but for the broker URL; workers get the URL in
    their environment (Celery reads CELERY_BROKER_URL before its settings).
    """
    server = OwnRedis(tmp_path)
    server.start()
    own = Celery("vidpref-own-redis", set_as_current=False)
    own.config_from_object("django.conf:settings", namespace="CELERY")
    own.conf.update(broker_url=server.url, task_queues=app.conf.task_queues, task_default_queue=app.conf.task_default_queue)
    own.set_current()
    try:
        yield server
    finally:
        app.set_current()
        own.pool.force_close_all()
        server.stop()


def worker_on(server: OwnRedis):
    return start_worker(queues=QUEUE, concurrency=1, extra_env={**world.WORKER_ENV, "CELERY_BROKER_URL": server.url},
                        purge=False)


def test_a_run_queued_with_no_worker_survives_a_redis_restart(own_redis, trained_on):
    run_id = start_reward_run(trained_on)
    assert own_redis.queued() == 1  # published to our Redis; nobody consumes it yet

    own_redis.restart()
    assert own_redis.queued() == 1

    worker = worker_on(own_redis)
    try:
        run = run_in(run_id, "succeeded", "failed")
    finally:
        stop_worker(worker)
    assert run.status == "succeeded" and run.attempts == 1, run.log


def test_a_run_a_worker_holds_when_redis_restarts_still_ends(own_redis, trained_on):
    worker = worker_on(own_redis)
    try:
        run_id = start_reward_run(trained_on, max_steps=40)  # seconds of training left after step 2
        at_step(run_id, 2)

        own_redis.restart()
        assert Run.objects.get(pk=run_id).status == "running"
        # acks_late: Redis still holds the message while the task runs, so a worker dying now would not lose it.
        assert own_redis.held() == 1 and own_redis.queued() == 0

        run = run_in(run_id, "succeeded", "failed")
        assert run.status == "succeeded" and run.attempts == 1, run.log
        # The worker acks once the task ends, over its new connection: nothing is left to run the run again.
        wait_until(lambda: own_redis.held() == 0, timeout=30)
        assert own_redis.queued() == 0
    finally:
        stop_worker(worker)
