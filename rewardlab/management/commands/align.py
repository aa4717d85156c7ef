"""Align the generator on a dataset version: Flow-DPO, Flow-RWR (LoRA), or Flow-NRG's latent reward model."""

from django.core.management.base import BaseCommand

from annotation.models import DatasetVersion
from rewardlab.management.runcli import add_run_arguments, create, parse_settings, row, run_or_queue, starter
from rewardlab.models import AlignmentRun, RewardModel
from rewardlab.services.submit import alignment_run_create


class Command(BaseCommand):
    help = "Flow-DPO / Flow-RWR fine-tuning (with win rates when a reward model judges), or Flow-NRG's latent reward."

    def add_arguments(self, parser):
        parser.add_argument("--dataset-version", type=int, required=True)
        parser.add_argument("--method", choices=AlignmentRun.Method.values, required=True)
        parser.add_argument("--base-model", required=True, help="Diffusers pipeline folder under BASE_MODELS_ROOT.")
        parser.add_argument("--reward-model", type=int, help="Flow-RWR rewards; the win-rate judge.")
        parser.add_argument("--dimensions", help="Flow-NRG: comma separated dimensions the latent reward learns.")
        add_run_arguments(parser)

    def handle(self, *args, **options):
        run = create(self, alignment_run_create, created_by=starter(options), method=options["method"],
                     dataset_version=row(DatasetVersion, options["dataset_version"], "dataset version"),
                     base_model_path=options["base_model"], name=options["name"],
                     reward_model=row(RewardModel, options["reward_model"], "reward model"),
                     dimensions=options["dimensions"].split(",") if options["dimensions"] else None,
                     hyperparameters=parse_settings(options["set"]), enqueue=options["queue"])
        run = run_or_queue(self, run, queue=options["queue"])
        if not options["queue"]:
            run = AlignmentRun.objects.get(pk=run.pk)
            for dim, rate in run.win_rate.items():
                low, high = run.win_rate_ci95.get(dim) or (rate, rate)
                self.stdout.write(f"win rate {dim:>8}: {rate:.3f} (95% interval {low:.3f}-{high:.3f}) over {run.win_rate_n} videos")
