"""The development server under a burst, started as `make run` starts it (scripts/run-dev.sh: runserver and a
Celery worker), on a scratch database with the demo project.

``--database postgres`` (the default): a scratch PostgreSQL database (``DATABASE_URL`` set, as a developer with
PostgreSQL has it). 40 clients make 15 requests each at once (ask for a pair, submit it, read the progress;
each request on its own TCP connection). Prints the status counts, the 5xx count and the peak number of
connections to the database (pg_stat_activity sampled every 10 ms; the server and its worker, not this script).

``--database sqlite``: the embedded default (`make run` with no ``DATABASE_URL``). 16 annotators race the demo
queue until it is empty. Prints the status counts, errors (anything but 200 and 204) and judgments per second,
then checks what the annotators would notice: every pair judged exactly its overlap, nobody judging a pair
twice, no lease left behind.

    .venv/bin/python bench/bench_dev_server.py
    .venv/bin/python bench/bench_dev_server.py --database sqlite
    .venv/bin/python bench/bench_dev_server.py --clients 40 --requests 15 --postgres postgres://postgres@127.0.0.1:5432
"""

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port: int, method: str, path: str, token: str, body: dict | None = None) -> tuple[int, dict | None]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(method, path, body=json.dumps(body or {}) if method == "POST" else None,
                     headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        is_json = response.getheader("Content-Type", "").startswith("application/json")
        return response.status, json.loads(data) if is_json and data else None
    finally:
        conn.close()


def setup_demo(annotators: int) -> tuple[int, list[str], list[str]]:
    """Migrate, `manage.py demo`, and ``annotators`` more annotators of the demo project with API tokens."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connections
    from rest_framework.authtoken.models import Token

    from annotation.models import Membership, Project
    from annotation.services.demo import DEMO_PROJECT

    call_command("migrate", verbosity=0)
    call_command("demo", stdout=open(os.devnull, "w"))
    project = Project.objects.get(name=DEMO_PROJECT)
    tokens = []
    for i in range(annotators):
        user = get_user_model().objects.create_user(username=f"bench{i}", password=None)
        Membership.objects.create(project=project, user=user, role="annotator")
        tokens.append(Token.objects.create(user=user).key)
    connections.close_all()  # this script's own connection is not the server's
    return project.pk, project.dimension_keys, tokens


def start_server(env: dict, port: int, log: Path) -> subprocess.Popen:
    server = subprocess.Popen(["scripts/run-dev.sh"], cwd=REPO, env={**env, "BIND": f"127.0.0.1:{port}"},
                              stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if request(port, "GET", "/login/", "-")[0] == 200:
                return server
        except OSError:
            time.sleep(0.2)
    os.killpg(server.pid, signal.SIGTERM)
    raise RuntimeError(f"the dev server did not come up within two minutes; see {log}")


def stop_server(server: subprocess.Popen) -> None:
    """SIGTERM to run-dev.sh, which stops its worker and server; a second one (their cold shutdown) if they are not
    gone in a minute."""
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        print("  the dev server did not stop within a minute: stopped at once", flush=True)
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()


class PeakConnections(threading.Thread):
    """Samples how many connections the database has (other than this sampler's own) until stopped."""

    def __init__(self, dsn: str, database: str):
        super().__init__(daemon=True)
        import psycopg2

        self.conn = psycopg2.connect(dsn)
        self.conn.autocommit = True
        self.database, self.peak, self.stopped = database, 0, threading.Event()

    def run(self) -> None:
        with self.conn.cursor() as cursor:
            while not self.stopped.wait(0.01):
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                               [self.database])
                self.peak = max(self.peak, cursor.fetchone()[0])

    def stop(self) -> int:
        self.stopped.set()
        self.join()
        self.conn.close()
        return self.peak


def annotator(port: int, project: int, dimensions: list[str], token: str, seed: int, budget: int | None,
              start: threading.Barrier, out: list) -> None:
    """Ask for a pair, submit it, read the progress; until ``budget`` requests, or (None) until the queue is empty."""
    rng, made = random.Random(seed), 0

    def call(method: str, path: str, body: dict | None = None):
        nonlocal made
        made += 1
        began = time.perf_counter()
        try:
            status, data = request(port, method, path, token, body)
        except OSError:  # refused or reset: counted as status 0
            status, data = 0, None
        out.append((status, time.perf_counter() - began))
        return status, data

    start.wait()
    while budget is None or made < budget:
        status, lease = call("POST", f"/api/v1/projects/{project}/assignments/next/")
        if status != 200:
            if budget is None:
                return  # 204: nothing left for this annotator (or an error, counted)
            continue
        if budget is not None and made >= budget:
            return
        call("POST", f"/api/v1/assignments/{lease['id']}/submit/",
             {"choices": {d: rng.choice(["left", "right", "tie"]) for d in dimensions}, "duration_ms": 3000})
        if budget is not None and made < budget:
            call("GET", f"/api/v1/projects/{project}/progress/")


def invariants(project: int) -> dict[str, int]:
    from django.db import connections
    from django.db.models import Count, F

    from annotation.models import Assignment, Judgment, Pair

    pairs = Pair.objects.filter(project_id=project, is_gold=False)
    per_pair = dict(Judgment.objects.filter(pair__project_id=project).values_list("pair").annotate(n=Count("id")))
    found = {
        "pairs": pairs.count(),
        "judgments": sum(per_pair.values()),
        "pairs not at exactly their overlap": sum(per_pair.get(p.pk, 0) != p.target for p in pairs),
        "pairs whose counter differs from their judgments": sum(per_pair.get(p.pk, 0) != p.done_count for p in pairs),
        "pairs over their overlap": pairs.filter(done_count__gt=F("target")).count(),
        "pairs judged twice by one annotator": Judgment.objects.filter(pair__project_id=project)
        .values("pair", "annotator").annotate(n=Count("id")).filter(n__gt=1).count(),
        "leases left behind": Assignment.objects.filter(pair__project_id=project, status="leased").count(),
    }
    connections.close_all()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--clients", type=int, help="default: 40 on PostgreSQL, 16 annotators on SQLite")
    parser.add_argument("--requests", type=int, default=15, help="per client, PostgreSQL burst")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432",
                        help="the PostgreSQL server for the scratch database")
    args = parser.parse_args()
    clients = args.clients or (40 if args.database == "postgres" else 16)

    data_dir = Path(tempfile.mkdtemp(prefix="vidpref-bench-dev-server-"))
    scratch = f"vidpref_bench_dev_server_{os.getpid()}"
    if args.database == "postgres":
        import psycopg2

        admin = psycopg2.connect(f"{args.postgres}/postgres")
        admin.autocommit = True
        admin.cursor().execute(f'CREATE DATABASE "{scratch}"')
        database_url = f"{args.postgres}/{scratch}"
    else:
        database_url = ""  # the embedded default: SQLite under DATA_DIR
    # As `make run` has it; no REDIS_URL: the worker takes the filesystem broker under DATA_DIR.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update({"VIDPREF_DEV": "1", "DEBUG": "1", "DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", "TQDM_DISABLE": "1"})
    if database_url:
        env["DATABASE_URL"] = database_url
    os.environ.clear()
    os.environ.update({**env, "DJANGO_SETTINGS_MODULE": "config.settings", "LOG_LEVEL": "WARNING"})
    sys.path.insert(0, str(REPO))

    server = None
    try:
        print(f"== dev server on {args.database}: migrate and `manage.py demo` in {data_dir}", flush=True)
        project, dimensions, tokens = setup_demo(clients)
        port = free_port()
        server = start_server(env, port, data_dir / "server.log")
        sampler = PeakConnections(f"{args.postgres}/{scratch}", scratch) if args.database == "postgres" else None
        if sampler:
            sampler.start()
        out: list[tuple[int, float]] = []
        start = threading.Barrier(clients)
        budget = args.requests if args.database == "postgres" else None
        threads = [threading.Thread(target=annotator, args=(port, project, dimensions, token, i, budget, start, out))
                   for i, token in enumerate(tokens)]
        began = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - began
        peak = sampler.stop() if sampler else None
        stop_server(server)
        server = None

        statuses = Counter(status for status, _ in out)
        latencies = sorted(seconds for _, seconds in out)
        found = invariants(project)
        print(f"{clients} clients, {len(out)} requests in {wall:.1f} s; statuses {dict(sorted(statuses.items()))} "
              "(0: connection refused or reset)")
        print(f"  5xx: {sum(n for s, n in statuses.items() if s >= 500)}; "
              f"errors (not 200/204): {sum(n for s, n in statuses.items() if s not in (200, 204))}")
        print(f"  latency p50 {1000 * latencies[len(latencies) // 2]:.0f} ms, "
              f"p99 {1000 * latencies[int(len(latencies) * 0.99)]:.0f} ms")
        if peak is not None:
            print(f"  peak connections to the database (dev server and its worker): {peak}")
        print(f"  judgments {found['judgments']} ({found['judgments'] / wall:.1f}/s) on {found['pairs']} pairs")
        for name, value in found.items():
            if name not in ("pairs", "judgments"):
                print(f"  {name}: {value}")
        log = (data_dir / "server.log").read_text()
        print(f"  server log: {log.count('Watching for file changes')} 'Watching for file changes' line(s), "
              f"{log.count('Traceback')} tracebacks")
    finally:
        if server is not None:
            stop_server(server)
        if args.database == "postgres":
            admin.cursor().execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
            admin.close()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
