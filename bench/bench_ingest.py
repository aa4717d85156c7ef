"""Ingest: what the media task costs over a bare ffmpeg transcode, and throughput with N media workers.

Clips: synthetic 5 s 854x480 24 fps clips (annotation.synthetic_videos), in two codecs, because the task
takes two paths: H.264 yuv420p at a constant rate is remuxed (no re-encode, decoded once to check it), and
anything else (here MPEG-4 Part 2) is transcoded to H.264.

1. Overhead, one file at a time in this process: a bare ``ffmpeg -i clip -c:v libx264 -preset veryfast -crf 18
   -pix_fmt yuv420p -movflags +faststart`` of the file vs the whole media task on it (``process_video_task``:
   load the row, read the headers (PyAV), one ffmpeg that also writes the poster, publish, save the row).
   Interleaved, so load on the machine hits both alike; wall time and CPU time (this process and its ffmpeg
   children; on a shared machine CPU time is the steadier figure).
2. Throughput: real Celery workers (``-Q media -c N``) process ``--clips`` clips; ingest (probe, sha256,
   store, row, enqueue) runs here while they work; the clock stops when the last video is ready.

    .venv/bin/python bench/bench_ingest.py                                  # 200 clips, N = 1, 2
    .venv/bin/python bench/bench_ingest.py --clips 40 --workers 1 --codecs mpeg4

Clips are cached in ``--clip-dir`` between runs. Needs PostgreSQL (database ``vidpref_bench_ingest``, created
if missing, or ``DATABASE_URL``) and Redis (``REDIS_URL``, default db 3).
"""

import argparse
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _django import REPO, django_bench

BARE_TRANSCODE = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", "-an",
                  "-movflags", "+faststart"]


def make_clips(folder: Path, count: int, codec: str) -> list[Path]:
    from annotation.synthetic_videos import CONTENTS, make_clip

    folder.mkdir(parents=True, exist_ok=True)
    started, made = time.perf_counter(), 0
    clips = []
    for i in range(count):
        path = folder / f"{codec}-{i:04d}.mp4"
        if not path.exists():
            make_clip(path.with_suffix(".part.mp4"), seconds=5, fps=24, width=854, height=480,
                      content=sorted(CONTENTS)[i % len(CONTENTS)], seed=i, codec=codec).rename(path)
            made += 1
        clips.append(path)
    if made:
        print(f"  made {made} {codec} clips in {time.perf_counter() - started:.0f} s", flush=True)
    return clips


def new_project(label: str):
    from annotation.models import Project

    return Project.objects.create(name=f"bench-ingest-{label}-{time.time_ns()}")


def _cpu() -> float:
    """CPU seconds of this process and its finished children (ffmpeg) so far."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def _timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), _cpu()
    fn()
    return time.perf_counter() - wall, _cpu() - cpu


def overhead(clips: list[Path], codec: str) -> None:
    from annotation.services.ingest import video_ingest
    from workers.media import process_video_task

    project = new_project(f"overhead-{codec}")
    bare, task = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i, clip in enumerate(clips):
            out = f"{tmp}/{i}.mp4"
            cmd = ["ffmpeg", "-nostdin", "-y", "-v", "error", "-i", str(clip), *BARE_TRANSCODE, out]
            bare.append(_timed(lambda cmd=cmd: subprocess.run(cmd, check=True)))
            video, _ = video_ingest(project=project, path=clip, prompt_text=f"prompt {i}", model_name="m")
            task.append(_timed(lambda video=video: process_video_task(video.pk)))
            video.refresh_from_db()
            assert video.status == "ready", video.error
    figures = []
    for k in (0, 1):  # wall, cpu
        b, t = [x[k] for x in bare], [x[k] for x in task]
        figures += [statistics.median(b), statistics.median(t), (sum(t) / sum(b) - 1) * 100]
    print(f"{codec:<7} {len(clips):>5} " + " ".join(f"{x:>8.3f} {y:>8.3f} {z:>+8.1f}%" for x, y, z in
                                                  (figures[:3], figures[3:])), flush=True)


def start_workers(concurrency: int) -> subprocess.Popen:
    from django.conf import settings

    db = settings.DATABASES["default"]
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"}
    subprocess.run([sys.executable, "-m", "celery", "-A", "config", "purge", "-f", "-Q", "media"], env=env, cwd=REPO,
                   capture_output=True)
    with open(Path(os.environ["DATA_DIR"]) / f"worker-{concurrency}.log", "ab") as log:  # the child keeps its copy
        worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "media", "-c",
                                   str(concurrency), "-l", "warning", "--without-heartbeat", "--without-mingle",
                                   "--without-gossip"], env=env, cwd=REPO, start_new_session=True, stdout=log, stderr=log)
    for _ in range(120):
        ping = subprocess.run([sys.executable, "-m", "celery", "-A", "config", "inspect", "ping", "-t", "1"], env=env,
                              cwd=REPO, capture_output=True)
        if ping.returncode == 0:
            return worker
    raise SystemExit("the media worker did not answer a ping")


def throughput(clips: list[Path], codec: str, concurrency: int) -> None:
    from annotation.models import Video
    from annotation.services.ingest import video_ingest

    project = new_project(f"throughput-{codec}-{concurrency}")
    worker = start_workers(concurrency)
    try:
        started = time.perf_counter()
        for i, clip in enumerate(clips):
            video_ingest(project=project, path=clip, prompt_text=f"prompt {i // 4}", model_name=f"m{i % 4}")
        ingested = time.perf_counter() - started
        videos = Video.objects.filter(project=project)
        while videos.exclude(status="pending").count() < len(clips):
            time.sleep(0.2)
        wall = time.perf_counter() - started
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait()
    failed = videos.filter(status="failed").count()
    print(f"{codec:<7} {concurrency:>8} {len(clips):>6} {ingested:>10.1f} {wall:>8.1f} {len(clips) / wall:>9.2f} "
          f"{failed:>7}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--overhead-clips", type=int, default=20, help="clips timed one by one (0: skip)")
    parser.add_argument("--workers", default="1,2", help="worker concurrencies to measure (empty: skip)")
    parser.add_argument("--codecs", default="libx264,mpeg4")
    parser.add_argument("--clip-dir", type=Path, default=Path(tempfile.gettempdir()) / "vidpref-bench-clips")
    args = parser.parse_args()
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/3")
    django_bench("vidpref_bench_ingest")
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}; media and worker logs under "
          f"{os.environ['DATA_DIR']}", flush=True)
    codecs = args.codecs.split(",")
    clips = {codec: make_clips(args.clip_dir, args.clips, codec) for codec in codecs}
    if args.overhead_clips:
        print(f"\n{'':<13} {'wall: bare s':>13} {'task s':>8} {'overhead':>9} {'cpu: bare s':>12} {'task s':>8} "
              f"{'overhead':>9}\n{'codec':<7} {'clips':>5}   (seconds: median per clip; overhead: total task / total "
              "bare - 1)", flush=True)
        for codec in codecs:
            overhead(clips[codec][:args.overhead_clips], codec)
    if args.workers:
        print(f"\n{'codec':<7} {'workers':>8} {'clips':>6} {'ingest s':>10} {'wall s':>8} {'clips/s':>9} {'failed':>7}",
              flush=True)
        for codec in codecs:
            for concurrency in [int(n) for n in args.workers.split(",")]:
                throughput(clips[codec], codec, concurrency)


if __name__ == "__main__":
    main()
