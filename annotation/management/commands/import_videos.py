"""manage.py import_videos PROJECT_ID MANIFEST: import a manifest, folder or RewardBench CSV under IMPORT_ROOT.

The same service as the API. By default the job runs in this process and prints its progress and the rows
that failed; with ``--queue`` it goes to the media workers instead. Either way the videos are transcoded by
the media workers (``celery -A config worker -Q media``).
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.management.project_arg import project_arg
from annotation.manifests import import_root
from annotation.models import ImportJob
from annotation.services.imports import import_job_create, import_job_run
from config.errors import ServiceError

PROGRESS_EVERY_S = 2.0


class Command(BaseCommand):
    help = "Import videos listed in a manifest (JSONL/CSV), a folder, or a RewardBench CSV under IMPORT_ROOT."

    def add_arguments(self, parser):
        parser.add_argument("project_id", type=int)
        parser.add_argument("manifest", help="Path under IMPORT_ROOT (relative, or absolute inside it).")
        parser.add_argument("--kind", choices=ImportJob.Kind.values, default=None,
                            help="Default: rewardbench for a CSV with path_A and path_B, else manifest.")
        parser.add_argument("--queue", action="store_true", help="Hand the job to the media workers and return.")

    def handle(self, *args, **options):
        project = project_arg(options["project_id"])
        manifest = Path(options["manifest"])
        if manifest.is_absolute():
            if not manifest.resolve().is_relative_to(import_root()):
                raise CommandError(f"{manifest} is not under IMPORT_ROOT ({import_root()}); move it there first.")
            manifest = manifest.resolve().relative_to(import_root())
        try:
            job = import_job_create(project=project, created_by=None, manifest=str(manifest), kind=options["kind"],
                                    enqueue=options["queue"])
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Import job {job.pk} ({job.kind}): {job.total_rows} rows.")
        if options["queue"]:
            self.stdout.write(f"Queued; follow it with GET /api/v1/imports/{job.pk}/.")
            return
        while not import_job_run(job=job, max_seconds=PROGRESS_EVERY_S):
            job.refresh_from_db()
            self.stdout.write(f"  {job.done_rows + job.failed_rows}/{job.total_rows} rows, {job.failed_rows} failed")
        job.refresh_from_db()
        for error in job.errors:
            self.stdout.write(self.style.WARNING(f"  row {error['row']}: {error['error']}"))
        summary = f"Job {job.pk} {job.status}: {job.done_rows} rows imported, {job.failed_rows} failed."
        if job.error:
            summary += f" {job.error}"
        self.stdout.write(self.style.SUCCESS(summary) if job.status == ImportJob.Status.SUCCEEDED else self.style.ERROR(summary))
        if job.status == ImportJob.Status.FAILED:
            raise CommandError(job.error)
