"""`manage.py runserver` (what `make run` serves with): a burst answered with few connections, a quiet log."""

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter

import pytest
from django.db import connection

from config.management.commands.runserver import CONCURRENT_REQUESTS
from tests.conftest import REPO, wait_until, worker_database_url

SERVER_NAME = "vidpref-dev-server-test"


def _get(port: int, path: str, token: str = "") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path, headers={"Authorization": f"Token {token}"} if token else {})
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0  # refused or reset
    finally:
        conn.close()


@pytest.fixture
def dev_server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # DB_CONN_MAX_AGE as production has it: the server must not keep connections all the same.
    # Its connections carry a name of their own: other processes (a worker of an earlier test) may use the database.
    env = {**os.environ, "DATABASE_URL": f"{worker_database_url()}?application_name={SERVER_NAME}",
           "DB_CONN_MAX_AGE": "60", "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
                              cwd=REPO, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _get(port, "/login/") == 200, timeout=60)
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="counts connections in PostgreSQL's pg_stat_activity")
def test_a_burst_of_40_clients_is_answered_with_at_most_a_few_database_connections(project_world, dev_server):
    from rest_framework.authtoken.models import Token

    token = Token.objects.get(user=project_world["users"]["annotator"]).key
    statuses: list[int] = []
    start = threading.Barrier(40)

    def client():
        start.wait()
        for _ in range(5):
            statuses.append(_get(dev_server, "/api/v1/projects/", token))

    threads = [threading.Thread(target=client) for _ in range(40)]
    for t in threads:
        t.start()
    peak = 0
    with connection.cursor() as cursor:
        while any(t.is_alive() for t in threads):
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [SERVER_NAME])
            peak = max(peak, cursor.fetchone()[0])
    for t in threads:
        t.join()

    assert Counter(statuses) == {200: 200}
    assert 0 < peak <= CONCURRENT_REQUESTS


def test_with_debug_on_each_django_line_is_printed_once():
    """Django's own console handler (on with DEBUG) and the root handler used to print every line twice."""
    emit = ("import logging; logging.getLogger('django.request').warning('Bad Request: /api/x/'); "
            "logging.getLogger('django.utils.autoreload').info('Watching for file changes with StatReloader')")
    env = {**os.environ, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "config.settings", "LOG_LEVEL": "INFO"}
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", emit], cwd=REPO, env=env,
                            capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
    assert result.stderr.count("Bad Request: /api/x/") == 1
    assert result.stderr.count("Watching for file changes") == 1


def _live_processes(session: int) -> dict[int, str]:
    """pid -> command of the session's processes that still run (a zombie has stopped, only its reaping is due)."""
    ps = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-s", str(session)], capture_output=True, text=True)
    rows = (line.split(None, 2) for line in ps.stdout.splitlines())
    return {int(pid): args for pid, stat, args in rows if not stat.startswith("Z")}


@pytest.mark.slow
def test_ctrl_c_stops_the_embedded_default_web_server_and_worker_within_seconds(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # The embedded default as `make run` starts it: SQLite and the filesystem broker under DATA_DIR.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DATA_DIR=str(tmp_path), VIDPREF_DEV="1", DEBUG="1", BIND=f"127.0.0.1:{port}",
               DJANGO_SETTINGS_MODULE="config.settings")
    app = subprocess.Popen(["scripts/run-dev.sh"], cwd=REPO, env=env, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Serving, and the worker's beat has started (it writes its schedule file): the whole stack is up.
        wait_until(lambda: _get(port, "/login/") == 200 and any(tmp_path.glob("celerybeat-schedule*")), timeout=60)
        os.killpg(app.pid, signal.SIGINT)  # a terminal's Ctrl-C: the foreground process group
        wait_until(lambda: not _live_processes(app.pid), timeout=15)
        app.wait(timeout=1)
    finally:
        # The children run in process groups of their own: on a failure each is killed.
        for pid in _live_processes(app.pid):
            os.kill(pid, signal.SIGKILL)
