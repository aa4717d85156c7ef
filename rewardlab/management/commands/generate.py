"""Generate videos (base, aligned adapter, Flow-NRG guidance) and optionally send them to the project as a new round."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project
from rewardlab.management.runcli import add_run_arguments, create, parse_settings, row, run_or_queue, starter
from rewardlab.models import Generation
from rewardlab.services.rounds import generation_round_ingest
from rewardlab.services.submit import generation_create


class Command(BaseCommand):
    help = "Sample prompts x seeds; --nrg vq=1.5 --nrg mq=0.5 weights Flow-NRG guidance; --send makes an annotation round."

    def add_arguments(self, parser):
        parser.add_argument("--project", type=int, required=True)
        parser.add_argument("--base-model", required=True)
        parser.add_argument("--prompt", action="append", default=[], help="Repeatable.")
        parser.add_argument("--prompts-file", help="A text file, one prompt a line.")
        parser.add_argument("--seeds", default="0", help="Comma separated.")
        parser.add_argument("--alignment-run", type=int, help="A Flow-DPO/RWR run whose adapter to use.")
        parser.add_argument("--nrg-run", type=int, help="A Flow-NRG run whose latent reward model guides sampling.")
        parser.add_argument("--nrg", action="append", default=[], metavar="DIM=WEIGHT")
        parser.add_argument("--send", action="store_true", help="Afterwards, ingest the videos into the project and pair them.")
        parser.add_argument("--strategy", help="Pair strategy for --send (default: baseline pairs when there are baselines, else all).")
        parser.add_argument("--per-prompt", type=int, help="Pairs per prompt for --send (random, balanced, uncertainty).")
        add_run_arguments(parser)

    def handle(self, *args, **options):
        project = row(Project, options["project"], "project")
        prompts = list(options["prompt"])
        if options["prompts_file"]:
            prompts += Path(options["prompts_file"]).read_text(encoding="utf-8").splitlines()
        if options["send"] and options["queue"]:
            raise CommandError("--send waits for the videos: leave out --queue (or send from the run's page).")
        run = create(self, generation_create, created_by=starter(options), project=project, base_model_path=options["base_model"],
                     prompts=prompts, seeds=[int(s) for s in options["seeds"].split(",")],
                     alignment_run_id=options["alignment_run"], nrg_run_id=options["nrg_run"],
                     nrg_weights={k: float(v) for k, v in parse_settings(options["nrg"]).items()} or None,
                     name=options["name"], hyperparameters=parse_settings(options["set"]), enqueue=options["queue"])
        run = run_or_queue(self, run, queue=options["queue"])
        if options["send"]:
            sent = generation_round_ingest(generation_id=run.pk, project_id=project.pk, strategy=options["strategy"],
                                           per_prompt=options["per_prompt"])
            self.stdout.write(sent.round_message)
        elif not options["queue"]:
            for video in Generation.objects.get(pk=run.pk).videos:
                self.stdout.write(f"{video['path']}  ({video['prompt']!r}, seed {video['seed']})")
