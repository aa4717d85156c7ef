"""The annotation queue under load: simulated annotators doing next + submit over HTTP against gunicorn.

For each project size (default 10,000 and 1,000,000 pairs, overlap 3) the pairs are made with set-based SQL,
gunicorn serves the real API on PostgreSQL, and 64 annotators (threads in a few client processes, one
keep-alive connection each) lease and submit for ``--seconds``: as fast as they can (the default, which finds
the capacity of the machine), or with ``--think-s`` seconds on each pair (exponentially distributed, as people
are), which shows the latency an annotator sees at a given load rather than the queueing of a saturated server.

    .venv/bin/python bench/bench_queue.py                           # 10k and 1M pairs, 64 annotators, 30 s each
    .venv/bin/python bench/bench_queue.py --pairs 10000 --seconds 10
    .venv/bin/python bench/bench_queue.py --think-s 2 --seconds 60    # 64 annotators at ~2 s per pair

Each size is measured in interleaved rounds of two modes on the same project and server settings: ``separate``
(``next``, then ``submit``: two requests per judgment) and ``combined`` (``submit`` with ``"next": true``: one).

Figures per round: judgments per second, p50/p99 of `next` and `submit` as the clients saw them (after a
warm-up), the gunicorn CPU time per judgment (what sizes a deployment: judgments/s ~ cores / that), and the
claim statement alone (p50/p99 over a few hundred claims on one connection, rolled back,
plus its plan), which shows the cost does not grow with the project, and `next` and `submit` through the real
views in process with no load (their floor in Python and PostgreSQL, and their query counts). Then the invariants: no pair over its
target, no duplicate judgment, no lost submit (acknowledged submits = judgment rows), counters = rows.
Database: ``vidpref_bench_queue`` on the local PostgreSQL (created if missing), or ``DATABASE_URL``; it is
emptied before each size.
"""

import argparse
import http.client
import json
import math
import multiprocessing
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time

from _django import REPO, django_bench

DATABASE = "vidpref_bench_queue"
CHOICES = ("left", "right", "tie")
DIMENSIONS = ("vq", "mq", "ta", "overall")


# ---- the project ---------------------------------------------------------------------------------------------

def build(pairs: int, annotators: int, overlap: int) -> tuple[int, list[str]]:
    """An empty database, then one project of ``pairs`` pairs and ``annotators`` members with API tokens."""
    from django.db import connection, transaction

    videos = math.ceil((1 + math.sqrt(1 + 8 * pairs)) / 2)  # videos * (videos - 1) / 2 >= pairs
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("TRUNCATE annotation_project, auth_user RESTART IDENTITY CASCADE")
        cur.execute("""INSERT INTO annotation_project (name, description, dimensions, overlap, lease_seconds, guidelines,
                           gold_ratio, max_duration_s, max_width, max_height, created_at)
                       VALUES ('bench queue', '', %s, %s, 600, '', 0, 60, 4096, 4096, now()) RETURNING id""",
                    [json.dumps([{"key": k, "label": k, "description": ""} for k in DIMENSIONS]), overlap])
        project = cur.fetchone()[0]
        cur.execute("""INSERT INTO annotation_prompt (project_id, text, text_sha256, created_at)
                       VALUES (%s, 'a bench prompt', md5('bench') || md5('bench'), now()) RETURNING id""", [project])
        prompt = cur.fetchone()[0]
        cur.execute("""INSERT INTO annotation_generationmodel (project_id, name, created_at)
                       VALUES (%s, 'bench-model', now()) RETURNING id""", [project])
        model = cur.fetchone()[0]
        cur.execute("""
            INSERT INTO annotation_video (project_id, prompt_id, generation_model_id, source, status, error, original,
                original_name, playback, poster, sha256, size_bytes, meta, codec, created_at, updated_at, requeues)
            SELECT %s, %s, %s, 'manifest', 'ready', '', 'bench/' || g, '', 'bench/clip.mp4', '',
                   md5(g::text) || md5('v' || g), 0, '{}', 'h264', now(), now(), 0
            FROM generate_series(1, %s) g""", [project, prompt, model, videos])
        cur.execute("""
            INSERT INTO annotation_pair (project_id, prompt_id, video_a_id, video_b_id, is_gold, target, done_count,
                leased_count, shuffle_key, strategy, created_at)
            SELECT %s, %s, a.id, b.id, false, %s, 0, 0, floor(random() * 2147483647)::int, 'bench', now()
            FROM annotation_video a JOIN annotation_video b ON b.id > a.id
            LIMIT %s""", [project, prompt, overlap, pairs])
        cur.execute("""
            INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active,
                date_joined)
            SELECT '!', false, 'annotator' || g, '', '', '', false, true, now() FROM generate_series(1, %s) g""",
                    [annotators])
        cur.execute("INSERT INTO annotation_membership (project_id, user_id, role, created_at) "
                    "SELECT %s, id, 'annotator', now() FROM auth_user", [project])
        tokens = [secrets.token_hex(20) for _ in range(annotators)]
        cur.execute("INSERT INTO authtoken_token (key, user_id, created) "
                    "SELECT t.key, u.id, now() FROM unnest(%s::text[]) WITH ORDINALITY t(key, n) "
                    "JOIN auth_user u ON u.username = 'annotator' || t.n", [tokens])
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE annotation_pair")
        cur.execute("ANALYZE")
        cur.execute("CHECKPOINT")  # flush the bulk load now, not during the measurement
    print(f"  built {pairs:,} pairs over {videos:,} videos, {annotators} annotators in "
          f"{time.perf_counter() - started:.1f} s", flush=True)
    return project, tokens


# ---- the server ----------------------------------------------------------------------------------------------

def start_gunicorn(port: int, workers: int, threads: int) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "0", "LOG_LEVEL": "WARNING",
           "DB_CONN_MAX_AGE": "600"}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(workers),
         "--threads", str(threads), "--log-level", "warning", "--backlog", "512",
         "--keep-alive", "75"],  # as long as a load balancer would hold an annotator's connection
        cwd=REPO, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/projects/")
            if conn.getresponse().status in (200, 401, 403):
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("gunicorn did not come up within a minute")


def server_cpu_seconds(server: subprocess.Popen) -> float:
    """User + system CPU of the gunicorn master and its workers so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    with open(f"/proc/{server.pid}/task/{server.pid}/children") as f:
        pids = [server.pid, *map(int, f.read().split())]
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def stop(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)


# ---- the clients ---------------------------------------------------------------------------------------------

def annotate(port: int, project: int, token: str, deadline: float, seed: int, think_s: float, combined: bool,
             out: dict) -> None:
    """One annotator: next, look for ``think_s`` on average, submit; repeat until the deadline or an empty queue.
    ``combined``: the submit asks for the next pair too (``"next": true``), so a judgment is one request."""
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def post(path: str, body: bytes) -> tuple[int, bytes, float, float]:
        nonlocal conn
        started = time.time()
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
        except (ConnectionError, http.client.RemoteDisconnected):
            # The server closed an idle keep-alive connection: reconnect and send again, as a browser does
            # (next and submit are both safe to repeat).
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
        data = response.read()
        return response.status, data, started, time.time()

    lease = None
    while time.time() < deadline:
        if lease is None:
            status, data, t0, t1 = post(f"/api/v1/projects/{project}/assignments/next/", b"{}")
            out["next"].append((t0, t1 - t0))
            if status == 204:
                out["empty"] += 1
                return
            if status != 200:
                out["errors"].append(f"next {status} {data[:200]!r}")
                continue
            lease = json.loads(data)
        if think_s:
            time.sleep(rng.expovariate(1 / think_s))
        answer = {"choices": {d: rng.choice(CHOICES) for d in DIMENSIONS}, "duration_ms": 4000}
        status, data, t0, t1 = post(f"/api/v1/assignments/{lease['id']}/submit/",
                                    json.dumps({**answer, "next": True} if combined else answer).encode())
        out["submit"].append((t0, t1 - t0))
        if status == 200:
            out["acked"].append(lease["id"])
        else:
            out["errors"].append(f"submit {status} {data[:200]!r}")
        lease = json.loads(data).get("next") if combined and status == 200 else None
        if combined and status == 200 and lease is None:
            out["empty"] += 1
            return


def client_process(port: int, project: int, tokens: list[str], deadline: float, seed: int, think_s: float,
                   combined: bool) -> dict:
    outs = [{"next": [], "submit": [], "acked": [], "errors": [], "empty": 0} for _ in tokens]
    threads = [threading.Thread(target=annotate, args=(port, project, token, deadline, seed + i, think_s, combined,
                                                       out))
               for i, (token, out) in enumerate(zip(tokens, outs, strict=True))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {key: [x for out in outs for x in out[key]] if key != "empty" else sum(o["empty"] for o in outs)
            for key in outs[0]}


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q / 100 * len(values)))] if values else float("nan")


# ---- the claim alone, and the invariants ------------------------------------------------------------------------

def claim_alone(project_id: int, samples: int) -> tuple[float, float, str]:
    """p50/p99 (ms) of the claim statement on one connection, each in a rolled-back transaction; and its plan."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from annotation.models import Project
    from annotation.services.assignment import claim_statement

    project = Project.objects.get(pk=project_id)
    users = list(get_user_model().objects.filter(memberships__project=project))

    def statement(user) -> tuple[str, dict]:
        return claim_statement(project=project, annotator=user, gold=False, shown_left="A", fresh_only=False, wait=False)

    timings = []
    for i in range(samples):
        sql, params = statement(users[i % len(users)])
        with transaction.atomic(), connection.cursor() as cur:
            started = time.perf_counter()
            cur.execute(sql, params)
            cur.fetchone()
            timings.append((time.perf_counter() - started) * 1000)
            transaction.set_rollback(True)
    sql, params = statement(users[0])
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql, params)
        plan = "\n".join(f"      {line}" for (line,) in cur.fetchall()[:24])
        transaction.set_rollback(True)
    return percentile(timings, 50), percentile(timings, 99), plan


def in_process(project: int, token: str, cycles: int) -> dict[str, tuple[float, int]]:
    """(p50 ms, queries) of `next`, `submit` and submit-and-next through the real views and Django's test client,
    one annotator, no HTTP server and no load: the floor a request costs in Python and PostgreSQL."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client, auth = Client(), {"HTTP_AUTHORIZATION": f"Token {token}"}
    answer = {"choices": {d: "tie" for d in DIMENSIONS}, "duration_ms": 4000}
    timings: dict[str, list[float]] = {"next": [], "submit": [], "submit+next": []}
    queries: dict[str, list[int]] = {kind: [] for kind in timings}

    def call(kind: str, path: str, data) -> dict:
        connection.queries_log.clear()  # a full log (9,000 queries) would count every call as zero
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.post(path, data, content_type="application/json", **auth)
            timings[kind].append((time.perf_counter() - started) * 1000)
        queries[kind].append(len(captured))
        return json.loads(response.content)

    for _ in range(cycles):
        assignment = call("next", f"/api/v1/projects/{project}/assignments/next/", {})["id"]
        call("submit", f"/api/v1/assignments/{assignment}/submit/", answer)
    lease = call("next", f"/api/v1/projects/{project}/assignments/next/", {})
    for _ in range(cycles):
        lease = call("submit+next", f"/api/v1/assignments/{lease['id']}/submit/", {**answer, "next": True})["next"]
    return {kind: (percentile(timings[kind][cycles // 5:], 50), percentile(queries[kind], 50)) for kind in timings}


def invariants(project: int, acked: list[int]) -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cur:
        def one(sql: str, params=()) -> int:
            cur.execute(sql, params)
            return cur.fetchone()[0]

        judged = one("SELECT count(*) FROM annotation_judgment")
        cur.execute("SELECT assignment_id FROM annotation_judgment")
        rows = {a for (a,) in cur.fetchall()}
        return {
            "pairs over their target": one("SELECT count(*) FROM annotation_pair WHERE done_count > target"),
            "duplicate judgments": one("SELECT count(*) FROM (SELECT 1 FROM annotation_judgment "
                                       "GROUP BY pair_id, annotator_id HAVING count(*) > 1) d"),
            "lost submits (acknowledged, no row)": len(set(acked) - rows),
            "judgments never acknowledged": judged - len(set(acked) & rows),
            "pairs whose done_count is not their rows": one("""
                SELECT count(*) FROM annotation_pair p
                JOIN (SELECT pair_id, count(*) n FROM annotation_judgment GROUP BY pair_id) j ON j.pair_id = p.id
                WHERE p.done_count <> j.n"""),
            "pairs whose leased_count is not their live leases": one("""
                SELECT count(*) FROM annotation_pair p
                LEFT JOIN (SELECT pair_id, count(*) n FROM annotation_assignment WHERE status = 'leased'
                           GROUP BY pair_id) a ON a.pair_id = p.id
                WHERE p.leased_count <> coalesce(a.n, 0) AND p.project_id = %s""", [project]),
        }


def measure(project: int, tokens: list[str], args, *, combined: bool) -> list[int]:
    """One round of gunicorn and the simulated annotators; prints its figures, returns the acknowledged submits."""
    server = start_gunicorn(args.port, args.workers, args.threads)
    try:
        cpu_before = server_cpu_seconds(server)
        started = time.time()
        deadline = started + args.seconds
        shares = [tokens[i::args.client_processes] for i in range(args.client_processes)]
        with multiprocessing.Pool(args.client_processes) as pool:
            results = pool.starmap(client_process, [(args.port, project, share, deadline, 1000 * i, args.think_s,
                                                     combined) for i, share in enumerate(shares)])
        finished = time.time()
        server_cpu = server_cpu_seconds(server) - cpu_before
    finally:
        stop(server)
    merged = {key: [x for r in results for x in r[key]] for key in ("next", "submit", "acked", "errors")}
    window_start = started + args.warmup
    steady = [t for t, _ in merged["submit"] if t >= window_start]
    nexts = [d * 1000 for t, d in merged["next"] if t >= window_start]
    submits = [d * 1000 for t, d in merged["submit"] if t >= window_start]
    print(f"  -- {'submit with next (one request per judgment)' if combined else 'next, then submit (two requests)'}")
    print(f"  judgments: {len(merged['acked']):,} acknowledged; {len(steady) / (finished - window_start):,.0f} per s "
          f"after {args.warmup} s warm-up; errors: {len(merged['errors'])}; annotators told 'nothing left': "
          f"{sum(r['empty'] for r in results)}")
    if nexts:
        print(f"  next   p50 {percentile(nexts, 50):6.1f} ms   p99 {percentile(nexts, 99):6.1f} ms   ({len(nexts):,} calls)")
    label = "submit+next" if combined else "submit"
    print(f"  {label:<6} p50 {percentile(submits, 50):6.1f} ms   p99 {percentile(submits, 99):6.1f} ms   "
          f"({len(submits):,} calls)")
    print(f"  server CPU (gunicorn processes, not PostgreSQL): {1000 * server_cpu / max(len(merged['acked']), 1):.1f} ms "
          "per judgment")
    for error in merged["errors"][:5]:
        print(f"  error: {error}")
    return merged["acked"]


def run(size: int, args) -> None:
    print(f"== {size:,} pairs, overlap {args.overlap}, {args.annotators} annotators, gunicorn {args.workers} workers "
          f"x {args.threads} threads, {args.seconds} s per round, "
          f"{f'{args.think_s} s' if args.think_s else 'no'} think time", flush=True)
    project, tokens = build(size, args.annotators, args.overlap)
    acked = []
    # Interleaved rounds on the same project: the machine is shared, so compare neighbours, not distant runs.
    for _ in range(args.rounds):
        for mode in args.modes:
            acked += measure(project, tokens, args, combined=mode == "combined")
    p50, p99, plan = claim_alone(project, args.claim_samples)
    print(f"  claim statement alone: p50 {p50:.2f} ms, p99 {p99:.2f} ms ({args.claim_samples} claims, rolled back)")
    print(f"    plan:\n{plan}")
    checks = invariants(project, acked)
    for name, value in checks.items():
        print(f"  {'ok  ' if value == 0 else 'FAIL'} {name}: {value}")
    if any(checks.values()):
        raise SystemExit("invariants violated")
    floor = in_process(project, tokens[0], args.in_process_cycles)  # after the checks: its judgments are unacked
    print("  in process, one annotator, no load: " + ", ".join(
        f"{kind} p50 {ms:.1f} ms ({queries} queries)" for kind, (ms, queries) in floor.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--overlap", type=int, default=3)
    parser.add_argument("--annotators", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--think-s", type=float, default=0, help="mean seconds each annotator spends on a pair")
    parser.add_argument("--modes", nargs="+", choices=["separate", "combined"], default=["separate", "combined"],
                        help="separate: next then submit; combined: submit with next (one request per judgment)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the modes, interleaved")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--claim-samples", type=int, default=300)
    parser.add_argument("--in-process-cycles", type=int, default=300)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    django_bench(DATABASE)
    from django.db import connection

    if "bench" not in connection.settings_dict["NAME"]:
        raise SystemExit("This bench empties its database; point DATABASE_URL at a database named *bench*.")
    for size in args.pairs:
        run(size, args)


if __name__ == "__main__":
    main()
