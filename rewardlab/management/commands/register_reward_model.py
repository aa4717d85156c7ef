"""Register a reward checkpoint made elsewhere: ``manage.py register_reward_model --project 1 --checkpoint
/models/VideoReward`` (the released VideoReward folder loads in VideoAlign mode)."""

from django.core.management.base import BaseCommand

from annotation.models import Project
from rewardlab.management.runcli import create, row
from rewardlab.services.reward_models import reward_model_register


class Command(BaseCommand):
    help = "Register a reward checkpoint folder (ours, or the released VideoReward one) with a project."

    def add_arguments(self, parser):
        parser.add_argument("--project", type=int, required=True)
        parser.add_argument("--checkpoint", required=True, help="reward_config.json or model_config.json folder")
        parser.add_argument("--base-model", default="", help="Qwen2-VL folder (default: the one the checkpoint names)")
        parser.add_argument("--name", default="", help="default: the folder's name")

    def handle(self, *args, **options):
        model = create(self, reward_model_register, project=row(Project, options["project"], "project"),
                       name=options["name"] or options["checkpoint"].rstrip("/").rsplit("/", 1)[-1],
                       checkpoint_dir=options["checkpoint"], base_model_path=options["base_model"])
        self.stdout.write(f"Registered reward model {model.pk} ({', '.join(model.dimensions)}); promote it with "
                          f"POST /api/v1/reward-models/{model.pk}/promote/")
