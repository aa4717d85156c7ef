"""Score a project's ready videos with a reward model (the project's own by default)."""

from django.core.management.base import BaseCommand, CommandError

from rewardlab.management.runcli import add_run_arguments, create, run_or_queue, starter
from rewardlab.models import RewardModel
from rewardlab.services.submit import score_run_create


class Command(BaseCommand):
    help = "Score every ready video of a project that the reward model has not scored yet."

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--reward-model", type=int)
        which.add_argument("--project", type=int, help="Use the project's promoted reward model.")
        add_run_arguments(parser, settings=False)

    def handle(self, *args, **options):
        if options["reward_model"]:
            model = RewardModel.objects.filter(pk=options["reward_model"]).first()
        else:
            model = RewardModel.objects.filter(project_id=options["project"], is_active=True).first()
        if model is None:
            raise CommandError("No such reward model (a project needs a promoted one).")
        run = create(self, score_run_create, created_by=starter(options), reward_model=model, enqueue=options["queue"])
        run_or_queue(self, run, queue=options["queue"])
