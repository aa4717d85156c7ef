"""manage.py export_dataset PROJECT_ID --format jsonl --format rewardbench [...]: write a dataset version here.

The same services as the API; by default the export runs in this process with a progress bar, with
``--queue`` it goes to the Celery workers instead.
"""

import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotation.exports import FORMATS, GRANULARITIES
from annotation.models import Project
from annotation.services.exports import dataset_version_create, dataset_version_export
from config.errors import ServiceError


def _splits(text: str) -> dict[str, float]:
    try:
        return {name.strip(): float(value) for name, value in (part.split("=") for part in text.split(","))}
    except ValueError:
        raise CommandError(f"--splits wants name=fraction pairs like train=0.8,val=0.1,test=0.1, not {text!r}.") from None


class Command(BaseCommand):
    help = "Create a dataset version of a project and write its files (jsonl, csv, parquet, hf, rewardbench)."

    def add_arguments(self, parser):
        parser.add_argument("project_id", type=int)
        parser.add_argument("--format", dest="formats", action="append", required=True, metavar="FORMAT",
                            help=f"Repeat for several: {', '.join(FORMATS)}.")
        parser.add_argument("--granularity", default="consensus", help=" or ".join(GRANULARITIES))
        parser.add_argument("--splits", type=_splits, default=None, help="e.g. train=0.8,val=0.1,test=0.1 (the default).")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--include-videos", default="", choices=["", "folder", "tar", "zip"])
        parser.add_argument("--name", default="")
        parser.add_argument("--dimension", dest="dimensions", action="append", help="Repeat; default all.")
        parser.add_argument("--annotator", dest="annotators", action="append", help="Username; repeat; default all.")
        parser.add_argument("--from", dest="created_from", help="Judgments made at or after this ISO date/time.")
        parser.add_argument("--to", dest="created_to", help="Judgments made before this ISO date/time.")
        parser.add_argument("--include-gold", action="store_true")
        parser.add_argument("--exclude-imported", action="store_true")
        parser.add_argument("--min-judgments", type=int, default=1)
        parser.add_argument("--min-agreement", type=float, default=None)
        parser.add_argument("--until-judgment-id", type=int, default=None,
                            help="Snapshot bound, to reproduce an earlier version (see its manifest).")
        parser.add_argument("--queue", action="store_true", help="Hand the export to the Celery workers and return.")

    def handle(self, *args, **o):
        project = Project.objects.filter(pk=o["project_id"]).first()
        if project is None:
            raise CommandError(f"No project {o['project_id']}.")
        filters = {
            "dimensions": o["dimensions"], "annotators": o["annotators"], "created_from": o["created_from"],
            "created_to": o["created_to"], "include_gold": o["include_gold"], "include_imported": not o["exclude_imported"],
            "min_judgments": o["min_judgments"], "min_agreement": o["min_agreement"],
            "until_judgment_id": o["until_judgment_id"],
        }
        try:
            version = dataset_version_create(
                project=project, created_by=None, formats=o["formats"], granularity=o["granularity"],
                splits=o["splits"], seed=o["seed"], filters=filters, include_videos=o["include_videos"],
                name=o["name"], enqueue=o["queue"],
            )
            if o["queue"]:
                self.stdout.write(f"Queued dataset version {version.number} (id {version.pk}).")
                return
            with tqdm(total=None, unit=" judgments", desc=f"v{version.number}", file=sys.stderr) as bar:
                def on_progress(done: int, total: int) -> None:
                    bar.total = total
                    bar.update(done - bar.n)

                version = dataset_version_export(version_id=version.pk, on_progress=on_progress)
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        counts = version.row_counts
        self.stdout.write(f"Dataset version {version.number} (id {version.pk}): {counts['rows']} rows, "
                          f"{counts['pairs']} pairs, {counts['prompts']} prompts")
        self.stdout.write(f"folder  {settings.EXPORT_ROOT / version.folder}")
        self.stdout.write(f"sha256  {version.sha256}")
