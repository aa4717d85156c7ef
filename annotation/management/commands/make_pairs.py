"""manage.py make_pairs PROJECT_ID --strategy all|random|balanced [--per-prompt K] [--seed S]."""

from django.core.management.base import BaseCommand, CommandError

from annotation.management.project_arg import project_arg
from annotation.services.pairing import STRATEGIES, pairs_generate
from config.errors import ServiceError


class Command(BaseCommand):
    help = "Pair the ready videos of a project's prompts for annotation."

    def add_arguments(self, parser):
        parser.add_argument("project_id", type=int)
        parser.add_argument("--strategy", default="all", help=f"One of: {', '.join(sorted(STRATEGIES))}.")
        parser.add_argument("--per-prompt", type=int, default=None, help="Pairs each prompt should have (random, balanced).")
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, *args, **options):
        project = project_arg(options["project_id"])
        try:
            created = pairs_generate(project=project, strategy=options["strategy"], per_prompt=options["per_prompt"],
                                     seed=options["seed"])
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(self.style.SUCCESS(f"{created} new pairs ({options['strategy']}) in project {project.pk}."))
