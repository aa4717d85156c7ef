"""How long a dataset version takes to write, and how much memory it needs, at the paper's scale and around it.

Builds projects of 18k, 182k and 1.8M judgments (the paper: 182,000 judgments over 60,000 pairs, ~3 per
pair) straight in PostgreSQL with set-based SQL, then exports each format on its own and all five together,
each in a fresh child process so its peak resident memory (ru_maxrss) is its own. The data stay in the bench
database between runs (``--regenerate`` to rebuild); the exported files are deleted after each timing.

    .venv/bin/python bench/bench_export.py                                   # 18k and 182k, every format
    .venv/bin/python bench/bench_export.py --full-size                       # and 1.8M (growth)
    .venv/bin/python bench/bench_export.py --sizes 182000 --formats jsonl,parquet --granularities raw

Figures: seconds of wall time for the whole export (count, streaming query, writing, hashing, manifest),
peak RSS of the child, and its growth over the child's RSS before the export started (Django, pyarrow
and, for hf, datasets imported). Defaults to the database ``vidpref_bench_export`` (created if missing);
set ``DATABASE_URL`` to use another.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("VIDPREF_DEV", "1")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/vidpref_bench_export")
if "EXPORT_ROOT" not in os.environ and "--child" not in sys.argv:
    os.environ["EXPORT_ROOT"] = tempfile.mkdtemp(prefix="vidpref-bench-export-")  # removed at the end
    atexit.register(shutil.rmtree, os.environ["EXPORT_ROOT"], ignore_errors=True)

FORMATS = ["jsonl", "csv", "parquet", "hf", "rewardbench"]
PAIRS_PER_JUDGMENT = 60_000 / 182_000
N_MODELS, N_ANNOTATORS, VIDEOS_PER_PROMPT = 8, 60, 4
DIMS = ("vq", "mq", "ta", "overall")


def ensure_database() -> None:
    import psycopg2
    from django.conf import settings

    db = settings.DATABASES["default"]
    conn = psycopg2.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"], dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]])
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{db["NAME"]}"')
    conn.close()


def generate(judgments: int):
    """A project with ``judgments`` judgments over judgments * 60/182 pairs; reused when it is already there."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from annotation.models import GenerationModel, Judgment, Project

    name = f"bench-export-{judgments}"
    project = Project.objects.filter(name=name).first()
    if project is not None:
        if Judgment.objects.filter(pair__project=project).count() == judgments:
            return project
        project.delete()
    n_pairs = round(judgments * PAIRS_PER_JUDGMENT)
    extra = judgments - 3 * n_pairs  # pairs that get a fourth judgment
    pairs_per_prompt = VIDEOS_PER_PROMPT * (VIDEOS_PER_PROMPT - 1) // 2
    n_prompts = -(-n_pairs // pairs_per_prompt)
    started = time.perf_counter()
    with transaction.atomic():
        project = Project.objects.create(name=name)
        models = [GenerationModel.objects.create(project=project, name=f"model-{i}").pk for i in range(N_MODELS)]
        User = get_user_model()
        users = []
        for i in range(N_ANNOTATORS):
            user, _ = User.objects.get_or_create(username=f"bench_annotator_{i}")
            users.append(user.pk)
        p = {"project": project.pk, "models": models, "users": users, "n_prompts": n_prompts, "n_pairs": n_pairs,
             "extra": extra, "n_models": N_MODELS, "n_users": N_ANNOTATORS, "k": VIDEOS_PER_PROMPT}
        choice = "(ARRAY['A','A','B','B','tie'])[1 + abs(hashtext({} || '{}')) %% 5]"
        choices = "jsonb_build_object(" + ", ".join(f"'{d}', {choice.format('{id}', d)}" for d in DIMS) + ")"
        with connection.cursor() as cur:
            cur.execute("""
                INSERT INTO annotation_prompt (project_id, text, text_sha256, created_at)
                SELECT %(project)s, t, encode(sha256(convert_to(t, 'UTF8')), 'hex'), now()
                FROM (SELECT 'Prompt ' || g || ': the camera follows a ' || (ARRAY['red','blue','green','golden'])[1 + g %% 4]
                             || ' kite over a windy beach at sunset, waves rolling in, a dog running along the water line, '
                             || 'soft warm light, shallow depth of field, cinematic.' AS t
                      FROM generate_series(1, %(n_prompts)s) g) s""", p)
            cur.execute("""
                INSERT INTO annotation_video (project_id, prompt_id, generation_model_id, seed, source, status, error, original,
                    original_name, playback, poster, sha256, size_bytes, duration_s, fps, num_frames, width, height, codec,
                    meta, created_at, updated_at)
                SELECT %(project)s, pr.id, (%(models)s::bigint[])[1 + (pr.id + k) %% %(n_models)s], k, 'manifest', 'ready', '',
                       'bench/' || pr.id || '-' || k || '.mp4', '', 'bench/' || pr.id || '-' || k || '.mp4', '',
                       encode(sha256(convert_to(%(project)s || '-' || pr.id || '-' || k, 'UTF8')), 'hex'), 1000000, 5.04,
                       (ARRAY[24.0, 30.0, 16.0, 8.0])[1 + k], (ARRAY[121, 151, 81, 41])[1 + k], 832, 480, 'h264', '{}', now(), now()
                FROM annotation_prompt pr CROSS JOIN generate_series(0, %(k)s - 1) k WHERE pr.project_id = %(project)s""", p)
            cur.execute("""
                INSERT INTO annotation_pair (project_id, prompt_id, video_a_id, video_b_id, is_gold, target, done_count,
                    leased_count, shuffle_key, strategy, created_at)
                SELECT %(project)s, prompt_id, va, vb, rn %% 50 = 0, t, t, 0, hashtext(rn::text), 'all', now()
                FROM (SELECT a.prompt_id, a.id AS va, b.id AS vb, row_number() OVER (ORDER BY a.prompt_id, a.id, b.id) AS rn,
                             CASE WHEN row_number() OVER (ORDER BY a.prompt_id, a.id, b.id) <= %(extra)s THEN 4 ELSE 3 END AS t
                      FROM annotation_video a JOIN annotation_video b ON a.prompt_id = b.prompt_id AND a.id < b.id
                      WHERE a.project_id = %(project)s) x
                WHERE rn <= %(n_pairs)s""", p)
            # One pair in twenty holds imported (RewardBench) judgments: no assignment, no annotator.
            cur.execute("""
                INSERT INTO annotation_assignment (pair_id, annotator_id, status, shown_left, leased_at, expires_at,
                    finished_at, skip_reason)
                SELECT pa.id, (%(users)s::bigint[])[1 + (pa.id * 7 + j * 13) %% %(n_users)s], 'submitted',
                       CASE WHEN (pa.id + j) %% 2 = 0 THEN 'A' ELSE 'B' END, now(), now(), now(), ''
                FROM annotation_pair pa CROSS JOIN generate_series(0, 3) j
                WHERE pa.project_id = %(project)s AND j < pa.target AND pa.id %% 20 <> 0""", p)
            cur.execute(f"""
                INSERT INTO annotation_judgment (pair_id, assignment_id, annotator_id, choices, shown_left, duration_ms,
                    comment, is_gold, imported, created_at)
                SELECT a.pair_id, a.id, a.annotator_id, {choices.format(id="a.id::text")}, a.shown_left,
                       2000 + abs(hashtext(a.id::text)) %% 60000, '', pa.is_gold, false,
                       timestamptz '2025-01-01' + (a.id %% 5000000) * interval '1 second'
                FROM annotation_assignment a JOIN annotation_pair pa ON pa.id = a.pair_id
                WHERE pa.project_id = %(project)s""", p)
            cur.execute(f"""
                INSERT INTO annotation_judgment (pair_id, assignment_id, annotator_id, choices, shown_left, duration_ms,
                    comment, is_gold, imported, created_at)
                SELECT pa.id, NULL, NULL, {choices.format(id="(pa.id * 4 + j)::text")}, '', NULL, '', pa.is_gold, true,
                       timestamptz '2024-12-01'
                FROM annotation_pair pa CROSS JOIN generate_series(0, 3) j
                WHERE pa.project_id = %(project)s AND j < pa.target AND pa.id %% 20 = 0""", p)
            cur.execute("""
                INSERT INTO annotation_adjudication (pair_id, choices, decided_by_id, created_at)
                SELECT id, '{"overall": "A"}', NULL, now() FROM annotation_pair
                WHERE project_id = %(project)s AND id %% 100 = 1""", p)
        assert Judgment.objects.filter(pair__project=project).count() == judgments
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    print(f"  generated {judgments:,} judgments, {n_pairs:,} pairs, {n_prompts:,} prompts "
          f"in {time.perf_counter() - started:.1f} s", flush=True)
    return project


def child(version_id: int) -> None:
    """Run one export and print its figures as JSON (in its own process, so ru_maxrss is its own)."""
    import django

    django.setup()
    from annotation.models import DatasetVersion
    from annotation.services.exports import dataset_version_export

    if "hf" in DatasetVersion.objects.get(pk=version_id).formats:
        import datasets  # noqa: F401  (imported before the baseline: its import is not the export's memory)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started, cpu_started = time.perf_counter(), time.process_time()
    version = dataset_version_export(version_id=version_id)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    size = sum(f["bytes"] for f in version.manifest["files"].values())
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mb": peak / 1024, "growth_mb": (peak - baseline) / 1024,
                      "rows": version.row_counts["rows"], "bytes": size, "sha256": version.sha256}))


def measure(project, granularity: str, formats: list[str]) -> dict:
    from django.conf import settings

    from annotation.models import DatasetVersion
    from annotation.services.exports import dataset_version_create

    version = dataset_version_create(project=project, created_by=None, formats=formats, granularity=granularity,
                                     filters={"include_gold": True}, enqueue=False)
    out = subprocess.run([sys.executable, __file__, "--child", str(version.pk)], capture_output=True, text=True,
                         env=os.environ, cwd=REPO)
    if out.returncode != 0:
        raise SystemExit(f"export child failed:\n{out.stderr}")
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    version.refresh_from_db()
    shutil.rmtree(settings.EXPORT_ROOT / version.folder, ignore_errors=True)  # 1.8M raw rows are gigabytes
    DatasetVersion.objects.filter(pk=version.pk).delete()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="18000,182000", help="judgment counts, comma separated")
    parser.add_argument("--full-size", action="store_true", help="sizes 18000,182000,1800000 (about half an hour)")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--granularities", default="consensus,raw")
    parser.add_argument("--no-all", action="store_true", help="skip the all-formats-in-one-pass run")
    parser.add_argument("--regenerate", action="store_true", help="rebuild the bench projects")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return

    import django

    django.setup()
    from django.core.management import call_command

    from annotation.models import Project

    ensure_database()
    call_command("migrate", verbosity=0)
    formats = args.formats.split(",")
    runs = [[f] for f in formats] + ([] if args.no_all or len(formats) == 1 else [formats])
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; exports to {os.environ['EXPORT_ROOT']}",
          flush=True)
    print("seconds: wall time of the export; cpu: CPU seconds of the exporting process (PostgreSQL's are not "
          "in it); peak: its max RSS; growth: over its RSS before the export", flush=True)
    print(f"{'judgments':>10} {'granularity':>11} {'format':<36} {'rows':>9} {'seconds':>8} {'cpu s':>6} {'rows/s':>9} "
          f"{'peak MB':>8} {'growth MB':>9} {'MB out':>8}", flush=True)
    sizes = "18000,182000,1800000" if args.full_size else args.sizes
    for size in [int(s) for s in sizes.split(",")]:
        if args.regenerate:
            Project.objects.filter(name=f"bench-export-{size}").delete()
        project = generate(size)
        for granularity in args.granularities.split(","):
            for run in runs:
                f = measure(project, granularity, run)
                print(f"{size:>10,} {granularity:>11} {'+'.join(run):<36} {f['rows']:>9,} {f['seconds']:>8.2f} "
                      f"{f['cpu']:>6.2f} {f['rows'] / f['seconds']:>9,.0f} {f['peak_mb']:>8.0f} {f['growth_mb']:>9.0f} "
                      f"{f['bytes'] / 1e6:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
