"""Manifest imports through the API on N media worker processes, against the floor of the same work done bare.

Files: ``--files`` small real clips (one tiny H.264 clip, each copy with its own trailing bytes so every file
has its own sha256), under a scratch IMPORT_ROOT, and a JSONL manifest naming them (four models, four videos
a prompt).

For each N in ``--workers`` (interleaved over ``--rounds``, as the machine is shared):

1. the floor: ``sha256sum`` of every file, then ``cp`` of every file into an empty folder, each by N processes
   (``xargs -P N``, many files per process), wall time;
2. the import: a Celery worker ``-Q media -c N`` is started and answers a ping, then ``POST
   /api/v1/projects/{id}/imports/`` and ``GET /api/v1/imports/{id}/`` every 0.1 s until the job has finished;
   media is emptied first, so every file is really copied. The clock runs from the POST to the finished job
   (every row registered: checked, hashed and copied once, its video row written); the videos' own media tasks
   (probe, transcode) queue behind the chunks and are not waited for.

Then ``--in-place`` rows registered in place (``"in_place": true``: nothing copied or hashed; the media
tasks hash and probe later), through the API on one worker process, and in this process alone (the database
speed).

    .venv/bin/python bench/bench_import.py                      # 20,000 files, N = 1, 2
    .venv/bin/python bench/bench_import.py --files 2000 --rounds 2
    .venv/bin/python bench/bench_import.py --files 100000 --workers 2 --in-place 100000

Needs PostgreSQL (database ``vidpref_bench_import``, created if missing, or ``DATABASE_URL``) and Redis
(``REDIS_URL``, default db 3; its ``media`` queue is purged).
"""

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from _django import django_bench
from bench_ingest import start_workers
from bench_queue import server_cpu_seconds

MODELS = 4


def make_files(root: Path, count: int) -> Path:
    """``count`` distinct small clips under ``root/clips`` and ``root/manifest.jsonl``; returns the clips folder."""
    from annotation.synthetic_videos import make_clip

    clips = root / "clips"
    clips.mkdir(parents=True)
    seed = make_clip(root / "seed.mp4", seconds=1, fps=8, width=96, height=64).read_bytes()
    with open(root / "manifest.jsonl", "w") as manifest:
        for i in range(count):
            (clips / f"{i:06d}.mp4").write_bytes(seed + i.to_bytes(8, "big"))  # bytes after the last box: still plays
            manifest.write(json.dumps({"prompt": f"prompt {i // MODELS}", "video": f"clips/{i:06d}.mp4",
                                       "model": f"model-{i % MODELS}"}) + "\n")
    print(f"  {count:,} files of {len(seed) + 8:,} bytes", flush=True)
    return clips


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def floor(clips: Path, processes: int, scratch: Path) -> tuple[float, float, float]:
    """Wall seconds of sha256sum, then of cp, over every file with ``processes`` processes; their CPU seconds."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    xargs = f"find . -name '*.mp4' -print0 | xargs -0 -P {processes} -n 500"
    cpu, started = _children_cpu(), time.perf_counter()
    subprocess.run(f"{xargs} sha256sum > /dev/null", shell=True, check=True, cwd=clips)
    hashed = time.perf_counter()
    subprocess.run(f"{xargs} cp -t {scratch}", shell=True, check=True, cwd=clips)
    copied = time.perf_counter()
    cpu = _children_cpu() - cpu
    shutil.rmtree(scratch)
    return hashed - started, copied - hashed, cpu


def manager_client(label: str):
    """A new project, its manager and an API client that authenticates as them with a token."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from annotation.models import Membership, Project

    project = Project.objects.create(name=f"bench-import-{label}-{time.time_ns()}")
    user = get_user_model().objects.create_user(f"bench-manager-{time.time_ns()}")
    Membership.objects.create(project=project, user=user, role="manager")
    token = Token.objects.create(user=user)
    return project, Client(HTTP_AUTHORIZATION=f"Token {token.key}")


def import_through_api(processes: int, *, manifest: str = "manifest.jsonl", in_place: bool = False) -> tuple[float, dict]:
    """(wall seconds from the POST to the finished job, the job as the API shows it) on ``processes`` workers."""
    from django.conf import settings

    shutil.rmtree(Path(settings.MEDIA_ROOT) / "videos", ignore_errors=True)
    project, client = manager_client(f"{processes}-{in_place}")
    worker = start_workers(processes)
    try:
        cpu = server_cpu_seconds(worker)
        started = time.perf_counter()
        response = client.post(f"/api/v1/projects/{project.pk}/imports/",
                               {"manifest": manifest, "in_place": in_place}, content_type="application/json")
        assert response.status_code == 201, response.content
        job = response.json()
        while job["status"] not in ("succeeded", "failed"):
            time.sleep(0.1)
            job = client.get(f"/api/v1/imports/{job['id']}/").json()
        wall = time.perf_counter() - started
        job["cpu_s"] = server_cpu_seconds(worker) - cpu  # the worker processes, not PostgreSQL
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait()
    return wall, job


def import_in_process(*, manifest: str, in_place: bool) -> tuple[float, dict]:
    """The same job run here, chunk after chunk, with no worker and no broker: what the database allows."""
    from annotation.services.imports import import_job_create, import_job_run

    project, _ = manager_client(f"here-{in_place}")
    started, cpu = time.perf_counter(), time.process_time()
    job = import_job_create(project=project, created_by=None, manifest=manifest, in_place=in_place,
                            enqueue=False)
    import_job_run(job=job)
    job.refresh_from_db()
    return time.perf_counter() - started, {"done_rows": job.done_rows, "failed_rows": job.failed_rows,
                                           "cpu_s": time.process_time() - cpu}


def report(label: str, rows: int, wall: float, job: dict, floor_s: float | None = None,
           floor_cpu_s: float | None = None) -> None:
    """Wall time and rate; CPU per row (on a shared machine the steadier figure); against the floor if given."""
    ratio = (f"   {wall / floor_s:.2f}x the floor's wall ({floor_s:.1f} s), {job['cpu_s'] / floor_cpu_s:.2f}x its CPU"
             if floor_s else "")
    print(f"  {label:<38} {wall:>7.1f} s {rows / wall:>7,.0f} rows/s  {1000 * job['cpu_s'] / rows:.2f} ms CPU a row  "
          f"done {job['done_rows']:,} failed {job['failed_rows']:,}{ratio}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="media worker processes")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--in-place", type=int, default=20_000, help="rows registered in place (0: skip)")
    args = parser.parse_args()
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/3")
    data = Path(tempfile.mkdtemp(prefix="vidpref-bench-import-"))
    os.environ.setdefault("DATA_DIR", str(data))  # the workers read IMPORT_ROOT and MEDIA_ROOT from here too
    django_bench("vidpref_bench_import")
    from django.conf import settings

    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}; data under {settings.DATA_DIR}", flush=True)
    root = Path(settings.IMPORT_ROOT)
    try:
        clips = make_files(root, args.files)
        for _ in range(args.rounds):
            for n in args.workers:
                sha_s, cp_s, floor_cpu = floor(clips, n, Path(settings.DATA_DIR) / "floor-copy")
                print(f"  floor, {n} process{'es' if n > 1 else ''}: sha256sum {sha_s:.1f} s + cp {cp_s:.1f} s "
                      f"= {sha_s + cp_s:.1f} s ({args.files / (sha_s + cp_s):,.0f} files/s), "
                      f"{1000 * floor_cpu / args.files:.2f} ms CPU a file; load average {os.getloadavg()[0]:.1f}",
                      flush=True)
                wall, job = import_through_api(n, in_place=False)
                report(f"import via API, {n} worker process{'es' if n > 1 else ''}", args.files, wall, job,
                       sha_s + cp_s, floor_cpu)
        if args.in_place:
            with open(root / "in-place.jsonl", "w") as manifest:  # the files over again: in place, rows never dedupe
                for i in range(args.in_place):
                    manifest.write(json.dumps({"prompt": f"prompt {i // MODELS}", "model": f"model-{i % MODELS}",
                                               "video": f"clips/{i % args.files:06d}.mp4"}) + "\n")
            for _ in range(args.rounds):
                report("in place via API, 1 worker process", args.in_place,
                       *import_through_api(1, manifest="in-place.jsonl", in_place=True))
                report("in place in this process (no broker)", args.in_place,
                       *import_in_process(manifest="in-place.jsonl", in_place=True))
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(Path(settings.MEDIA_ROOT), ignore_errors=True)


if __name__ == "__main__":
    main()
