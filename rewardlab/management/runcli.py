"""What the run commands share: ``--set key=value`` settings, and running a run here with a tqdm bar (or queueing it)."""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from config.errors import ServiceError
from rewardlab.models import Run
from rewardlab.services.runner import RunTracker, execute_run


def add_run_arguments(parser: CommandParser, *, settings: bool = True) -> None:
    if settings:
        parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                            help="A run setting (JSON value, e.g. --set lr=1e-5 --set max_steps=100); see the API docs.")
    parser.add_argument("--name", default="")
    parser.add_argument("--user", help="Username recorded as the run's starter.")
    parser.add_argument("--queue", action="store_true",
                        help="Queue the run for a GPU worker instead of running it in this process.")


def parse_settings(pairs: list[str]) -> dict:
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise CommandError(f"--set {pair!r}: write KEY=VALUE")
        try:
            settings[key.strip()] = json.loads(value)
        except ValueError:
            settings[key.strip()] = value
    return settings


def row(model, pk: int | None, what: str):
    """The row with this id, or a command error naming what is missing (None stays None)."""
    if pk is None:
        return None
    found = model.objects.filter(pk=pk).first()
    if found is None:
        raise CommandError(f"No {what} {pk}.")
    return found


def starter(options: dict):
    if not options.get("user"):
        return None
    user = get_user_model().objects.filter(username=options["user"]).first()
    if user is None:
        raise CommandError(f"No user {options['user']!r}.")
    return user


def create(command: BaseCommand, create_run, **kwargs) -> Run:
    """Call a rewardlab.services.submit function; service errors become command errors."""
    try:
        return create_run(**kwargs)
    except ServiceError as exc:
        fields = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.fields.items())
        raise CommandError(f"{exc.message}{f' ({fields})' if fields else ''}") from exc


def run_or_queue(command: BaseCommand, run: Run, *, queue: bool) -> Run:
    """Queued: say where to follow it. Otherwise run it here with a progress bar; fail the command if the run fails."""
    if queue:
        command.stdout.write(f"Queued {run.get_kind_display().lower()} run {run.pk}: follow it at /runs/{run.pk}/ "
                             f"or GET /api/v1/runs/{run.pk}/progress/.")
        return run
    with tqdm(unit="step", dynamic_ncols=True) as bar:
        def show(tracker: RunTracker) -> None:
            bar.set_description(f"{tracker.phase}: {tracker.activity}" if tracker.activity else tracker.phase)
            bar.total = tracker.total_steps or None
            bar.n = tracker.step
            loss = tracker.last_values.get("loss")
            if isinstance(loss, int | float):
                bar.set_postfix(loss=f"{loss:.4f}")
            bar.refresh()

        done = execute_run(run_id=run.pk, on_progress=show)
    if done is None:
        raise CommandError(f"Run {run.pk} is held by another worker; follow it at /runs/{run.pk}/.")
    if done.status != Run.Status.SUCCEEDED:
        raise CommandError(f"Run {run.pk} {done.status}:\n{done.error or done.log[-2000:]}")
    command.stdout.write(command.style.SUCCESS(f"Run {run.pk} succeeded.") + f" Output: {done.output_dir}")
    return done
