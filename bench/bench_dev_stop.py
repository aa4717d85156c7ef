"""How long Ctrl-C takes to stop `make run` on the embedded default (scripts/run-dev.sh: runserver and a Celery
worker on the filesystem broker, SQLite), nothing running. Each round starts the script on a scratch DATA_DIR,
waits until it serves and the worker's beat has started, sends SIGINT to its process group (what a terminal's
Ctrl-C does; ``--twice``: a second one 0.3 s later) and prints the seconds until none of its processes runs.

    .venv/bin/python bench/bench_dev_stop.py --rounds 3
    git show 2f1562d:scripts/run-dev.sh > scripts/run-dev-before.sh && chmod +x scripts/run-dev-before.sh
    .venv/bin/python bench/bench_dev_stop.py --script scripts/run-dev-before.sh   # the script before the fix
"""

import argparse
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from bench_dev_server import REPO, free_port, request


def running(session: int) -> list[str]:
    ps = subprocess.run(["ps", "-o", "stat=", "-s", str(session)], capture_output=True, text=True)
    return [stat for stat in ps.stdout.split() if not stat.startswith("Z")]  # a zombie has stopped


def one_round(script: str, twice: bool, cap: float) -> float | None:
    data_dir = Path(tempfile.mkdtemp(prefix="vidpref-stop-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DATA_DIR=str(data_dir), VIDPREF_DEV="1", DEBUG="1", BIND=f"127.0.0.1:{port}")
    app = subprocess.Popen([script], cwd=REPO, env=env, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (any(data_dir.glob("celerybeat-schedule*")) and _serves(port)):
        if time.monotonic() > deadline:
            raise RuntimeError("the app did not come up within two minutes")
        time.sleep(0.1)
    start = time.monotonic()
    os.killpg(app.pid, signal.SIGINT)
    if twice:
        time.sleep(0.3)
        os.killpg(app.pid, signal.SIGINT)
    while running(app.pid):
        app.poll()
        if time.monotonic() - start > cap:
            subprocess.run(["pkill", "-KILL", "-s", str(app.pid)])
            app.wait()
            return None
        time.sleep(0.05)
    app.wait()
    return time.monotonic() - start


def _serves(port: int) -> bool:
    try:
        return request(port, "GET", "/login/", "-")[0] == 200
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--script", default="scripts/run-dev.sh")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--twice", action="store_true", help="a second Ctrl-C 0.3 s after the first")
    parser.add_argument("--cap", type=float, default=90.0, help="seconds after which a round is killed")
    args = parser.parse_args()
    for n in range(1, args.rounds + 1):
        seconds = one_round(args.script, args.twice, args.cap)
        shown = f"{seconds:.1f} s" if seconds is not None else f"still running after {args.cap:.0f} s: killed"
        print(f"round {n}: stopped in {shown} (load average {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main()
