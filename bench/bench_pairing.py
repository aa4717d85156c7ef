"""Pair generation at the paper's scale: 16k prompts x 12 models, one ready video each (192k videos).

``all`` makes every model pair of every prompt (66 per prompt: 1.06M pairs); ``random`` and ``balanced`` make
``--per-prompt`` each. Every strategy runs in a fresh child process on the same project, its earlier pairs
deleted first, so the peak resident memory (ru_maxrss) is that run's own. The videos stay in the bench
database between runs (``--regenerate`` rebuilds them).

    .venv/bin/python bench/bench_pairing.py                              # 16k x 12
    .venv/bin/python bench/bench_pairing.py --prompts 2000 --models 8    # a quick look

Figures: wall seconds of ``pairs_generate`` (reading videos and existing pairs, choosing, bulk inserts),
pairs created per second, peak RSS of the child and its growth over the child's RSS before the call.
Database: ``vidpref_bench_pairing`` on the local PostgreSQL (created if missing), or ``DATABASE_URL``.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from _django import REPO, django_bench


def generate(prompts: int, models: int):
    """A project of prompts x models ready videos, built with set-based SQL; reused when already there."""
    from django.db import connection, transaction

    from annotation.models import GenerationModel, Project, Video

    name = f"bench-pairing-{prompts}x{models}"
    project = Project.objects.filter(name=name).first()
    if project is not None and Video.objects.filter(project=project).count() == prompts * models:
        return project
    Project.objects.filter(name=name).delete()
    started = time.perf_counter()
    with transaction.atomic():
        project = Project.objects.create(name=name)
        model_ids = [GenerationModel.objects.create(project=project, name=f"model-{i}").pk for i in range(models)]
        params = {"project": project.pk, "prompts": prompts, "models": model_ids}
        with connection.cursor() as cur:
            cur.execute("""
                INSERT INTO annotation_prompt (project_id, text, text_sha256, created_at)
                SELECT %(project)s, 'bench prompt ' || g, md5(g::text) || md5(g::text), now()
                FROM generate_series(1, %(prompts)s) g""", params)
            cur.execute("""
                INSERT INTO annotation_video (project_id, prompt_id, generation_model_id, seed, source, status, error,
                    original, original_name, playback, poster, sha256, size_bytes, meta, codec, created_at, updated_at)
                SELECT %(project)s, p.id, m, NULL, 'manifest', 'ready', '', 'bench/' || p.id || '-' || m, '', '', '',
                       md5(p.id || '-' || m) || md5(m || '-' || p.id), 0, '{}', 'h264', now(), now()
                FROM annotation_prompt p CROSS JOIN unnest(%(models)s::bigint[]) m
                WHERE p.project_id = %(project)s""", params)
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    print(f"  built {prompts:,} prompts x {models} models in {time.perf_counter() - started:.1f} s", flush=True)
    return project


def child(project_id: int, strategy: str, per_prompt: int | None) -> None:
    """One pairs_generate call, figures as JSON (in its own process, so ru_maxrss is its own)."""
    import django

    django.setup()
    from annotation.models import Project
    from annotation.services.pairing import pairs_generate

    project = Project.objects.get(pk=project_id)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    created = pairs_generate(project=project, strategy=strategy, per_prompt=per_prompt, seed=0)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"created": created, "seconds": seconds, "peak_mb": peak / 1024, "growth_mb": (peak - baseline) / 1024}))


def measure(project, strategy: str, per_prompt: int | None) -> dict:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("DELETE FROM annotation_pair WHERE project_id = %s", [project.pk])
        cur.execute("VACUUM ANALYZE annotation_pair")
    args = [sys.executable, __file__, "--child", str(project.pk), strategy] + ([str(per_prompt)] if per_prompt else [])
    out = subprocess.run(args, capture_output=True, text=True, env=os.environ, cwd=REPO)
    if out.returncode != 0:
        raise SystemExit(f"pairing child failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=16_000)
    parser.add_argument("--models", type=int, default=12)
    parser.add_argument("--per-prompt", type=int, default=6, help="for random and balanced")
    parser.add_argument("--strategies", default="all,random,balanced")
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    django_bench("vidpref_bench_pairing")
    if args.child:
        project_id, strategy, *per_prompt = args.child
        child(int(project_id), strategy, int(per_prompt[0]) if per_prompt else None)
        return
    from annotation.models import Project

    if args.regenerate:
        Project.objects.filter(name=f"bench-pairing-{args.prompts}x{args.models}").delete()
    project = generate(args.prompts, args.models)
    print(f"{os.cpu_count()} CPUs; {args.prompts:,} prompts x {args.models} models; peak = child's max RSS", flush=True)
    print(f"{'strategy':<14} {'pairs':>10} {'seconds':>8} {'pairs/s':>9} {'peak MB':>8} {'growth MB':>9}", flush=True)
    for strategy in args.strategies.split(","):
        per_prompt = None if strategy == "all" else args.per_prompt
        f = measure(project, strategy, per_prompt)
        label = strategy if per_prompt is None else f"{strategy} k={per_prompt}"
        print(f"{label:<14} {f['created']:>10,} {f['seconds']:>8.2f} {f['created'] / f['seconds']:>9,.0f} "
              f"{f['peak_mb']:>8.0f} {f['growth_mb']:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
