"""Give the demo project a pipeline on the tiny models: every 30 new judgments retrain, gate on the test split of a
frozen version of what is judged now, and align with Flow-DPO when the new model is promoted."""

from io import StringIO

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project
from annotation.services.demo import DEMO_PROJECT
from annotation.services.exports import dataset_version_create, dataset_version_export
from config.errors import ServiceError
from rewardlab import conf
from rewardlab.services.pipelines import pipeline_update


class Command(BaseCommand):
    help = ("Set up a project's pipeline on tiny-qwen2-vl and tiny-wan (default: the demo project): every --every "
            "new judgments, gate on a frozen test split exported now, Flow-DPO after each promotion. Judge a few pairs "
            "of several prompts first (the frozen version needs a test split).")

    def add_arguments(self, parser):
        parser.add_argument("--project", type=int, help="Project id (default: the demo project).")
        parser.add_argument("--every", type=int, default=30, help="New judgments per execution (default 30).")

    def handle(self, *args, project=None, every=30, **options):
        found = Project.objects.filter(pk=project) if project else Project.objects.filter(name=DEMO_PROJECT)
        project = found.first()
        if project is None:
            raise CommandError("No such project; run `python manage.py demo` first or pass --project.")
        admin = get_user_model().objects.filter(is_staff=True).order_by("pk").first()
        call_command("make_tiny_models", stdout=StringIO())
        root = conf.base_models_root()
        try:
            gate_version = dataset_version_export(version_id=dataset_version_create(
                project=project, created_by=admin, formats=["jsonl"], splits={"train": 0.5, "test": 0.5},
                name="pipeline gate (frozen)", enqueue=False).pk)
            pipeline = pipeline_update(project=project, changed_by=admin, settings={
                "enabled": True, "every_judgments": every,
                "dataset": {"formats": ["jsonl"], "splits": {"train": 0.8, "test": 0.2}},
                "reward": {"base_model_path": str(root / "tiny-qwen2-vl"), "hyperparameters": {}},
                "gate": {"mode": "beat", "dataset_version": gate_version.pk, "split": "test"},
                "alignment": {"method": "flow_dpo", "base_model_path": str(root / "tiny-wan"),
                              "hyperparameters": {"win_rate_prompts": 0}},
            })
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(self.style.SUCCESS(
            f"Pipeline of project {project.pk} enabled: every {pipeline.every_judgments} new judgments; the gate scores on "
            f"the test split of version {gate_version.number}. Watch it at /runs/pipeline/{project.pk}/ (celery beat and "
            "workers on the default and gpu queues must run)."))
