"""Close the loop: a generation's videos go into a project as a new annotation round.

Sending queues a job on the default queue; the job ingests each video (probe, transcode, poster, in that
worker) under the generation's model name and makes pairs with the chosen strategy, so the new videos meet
the project's existing ones of the same prompts.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from annotation.models import Project
from annotation.services.ingest import video_ingest
from annotation.services.pairing import STRATEGIES, pairs_generate
from config.errors import Conflict, InvalidInput
from rewardlab.models import Generation, Run

log = logging.getLogger(__name__)


@transaction.atomic
def generation_send(*, generation: Generation, project: Project, sent_by: AbstractBaseUser, strategy: str = "all",
                    per_prompt: int | None = None) -> Generation:
    if strategy not in STRATEGIES:
        raise InvalidInput(f"Unknown pair strategy {strategy!r}; choose from {', '.join(sorted(STRATEGIES))}.",
                           fields={"strategy": ["unknown"]})
    generation = Generation.objects.select_for_update().get(pk=generation.pk)
    if generation.status != Run.Status.SUCCEEDED or not generation.videos:
        raise Conflict(f"Generation {generation.pk} is {generation.status}; send it once it has succeeded.", code="not_ready")
    if generation.round_status in ("sending", "sent"):
        raise Conflict(f"Generation {generation.pk} was already sent ({generation.round_status}).", code="already_sent")
    generation.round_status = "sending"
    generation.round_message = f"sending {len(generation.videos)} videos to project {project.pk} by {sent_by}"
    generation.save(update_fields=["round_status", "round_message"])
    from workers.run_ops import send_generation_round  # the task calls back into this module

    transaction.on_commit(lambda: send_generation_round.delay(generation.pk, project.pk, strategy, per_prompt))
    return generation


def generation_round_ingest(*, generation_id: int, project_id: int, strategy: str, per_prompt: int | None = None) -> Generation:
    """The job: ingest every video, then pair. Re-running it is harmless (ingest dedupes by content)."""
    generation = Generation.objects.get(pk=generation_id)
    project = Project.objects.get(pk=project_id)
    try:
        video_ids = []
        for item in generation.videos:
            video, _ = video_ingest(project=project, path=Path(item["path"]), prompt_text=item["prompt"],
                                    model_name=item["model"], seed=item.get("seed"), source="generated",
                                    meta={"generation_run": generation.pk}, process_now=True)
            video_ids.append(video.pk)
        count = pairs_generate(project=project, strategy=strategy, per_prompt=per_prompt)
    except Exception as exc:
        log.exception("sending generation %s to project %s failed", generation_id, project_id)
        Generation.objects.filter(pk=generation_id).update(
            round_status="failed", round_message=f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}")
        raise
    Generation.objects.filter(pk=generation_id).update(
        round_status="sent", round_video_ids=video_ids, round_pair_count=count,
        round_message=f"{len(video_ids)} videos in project {project.pk}; {count} new pairs ({strategy}) for annotators")
    generation.refresh_from_db()
    return generation
