"""Evaluate a reward model: on a dataset version's split, or on a VideoGen-RewardBench CSV under IMPORT_ROOT."""

from django.core.management.base import BaseCommand

from annotation.models import DatasetVersion
from rewardlab.management.runcli import add_run_arguments, create, row, run_or_queue, starter
from rewardlab.models import RewardEval, RewardModel
from rewardlab.services.submit import reward_eval_create


class Command(BaseCommand):
    help = "Pairwise accuracy (with and without ties) of a registered reward model."

    def add_arguments(self, parser):
        parser.add_argument("--reward-model", type=int, required=True)
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--dataset-version", type=int)
        source.add_argument("--benchmark-csv", help="Path relative to IMPORT_ROOT.")
        parser.add_argument("--split", default="test")
        add_run_arguments(parser, settings=False)

    def handle(self, *args, **options):
        run = create(self, reward_eval_create, created_by=starter(options),
                     reward_model=row(RewardModel, options["reward_model"], "reward model"),
                     dataset_version=row(DatasetVersion, options["dataset_version"], "dataset version"),
                     split=options["split"], benchmark_csv=options["benchmark_csv"] or "", name=options["name"],
                     enqueue=options["queue"])
        run = run_or_queue(self, run, queue=options["queue"])
        if not options["queue"]:
            results = RewardEval.objects.get(pk=run.pk).results
            for dim, metrics in {**results["dimensions"], "overall": results["overall"]}.items():
                self.stdout.write(f"{dim:>8}  without ties {metrics['acc_without_ties']}  with ties {metrics['acc_with_ties']} "
                                  f"(VideoAlign; order-free {metrics.get('acc_with_ties_by_threshold')})  "
                                  f"({metrics['n_decided']} decided of {metrics['n_pairs']})")
