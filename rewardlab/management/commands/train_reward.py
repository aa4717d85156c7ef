"""Train VideoReward on a dataset version: ``manage.py train_reward --dataset-version 3 --base-model qwen2-vl-2b``."""

from django.core.management.base import BaseCommand

from annotation.models import DatasetVersion
from rewardlab.management.runcli import add_run_arguments, create, parse_settings, row, run_or_queue, starter
from rewardlab.services.submit import reward_run_create


class Command(BaseCommand):
    help = "Train a reward model on a dataset version (evaluated on its test split and registered)."

    def add_arguments(self, parser):
        parser.add_argument("--dataset-version", type=int, required=True, help="DatasetVersion id (exported with jsonl).")
        parser.add_argument("--base-model", required=True, help="Qwen2-VL folder, absolute or under BASE_MODELS_ROOT.")
        parser.add_argument("--dimensions", help="Comma separated (default: the project's, without overall).")
        add_run_arguments(parser)

    def handle(self, *args, **options):
        version = row(DatasetVersion, options["dataset_version"], "dataset version")
        dimensions = options["dimensions"].split(",") if options["dimensions"] else None
        run = create(self, reward_run_create, created_by=starter(options), dataset_version=version,
                     base_model_path=options["base_model"], name=options["name"], dimensions=dimensions,
                     hyperparameters=parse_settings(options["set"]), enqueue=options["queue"])
        run_or_queue(self, run, queue=options["queue"])
