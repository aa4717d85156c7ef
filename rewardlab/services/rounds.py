"""Close the loop: a generation's videos go into a project as a new annotation round.

Sending queues a job on the default queue; the job ingests each video (probe, transcode, poster, in that
worker) under its model name. A generation with baseline videos pairs each candidate with the base model's video
of the same prompt and seed (strategy "baseline": the pairs whose judgments say what alignment changed); any
other strategy adds its pairs on top, so the new videos also meet the project's existing ones.
"""

from __future__ import annotations

import logging
import random
import traceback
from pathlib import Path

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from annotation.models import Pair, Project, Video
from annotation.services.ingest import video_ingest
from annotation.services.pairing import STRATEGIES, pairs_generate
from config.errors import Conflict, InvalidInput
from rewardlab.human_eval import BASELINE, baseline_couples, has_baseline
from rewardlab.models import Generation, Run

log = logging.getLogger(__name__)

@transaction.atomic
def generation_send(*, generation: Generation, project: Project, sent_by: AbstractBaseUser, strategy: str | None = None,
                    per_prompt: int | None = None) -> Generation:
    """``strategy`` None: "baseline" for a generation with baselines, else "all"."""
    generation = Generation.objects.select_for_update().get(pk=generation.pk)
    strategy = strategy or (BASELINE if has_baseline(generation) else "all")
    allowed = {*STRATEGIES, BASELINE} if has_baseline(generation) else set(STRATEGIES)
    if strategy not in allowed:
        raise InvalidInput(f"Unknown pair strategy {strategy!r}; choose from {', '.join(sorted(allowed))}.",
                           fields={"strategy": ["unknown"]})
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
        count = _baseline_pairs(project=project, generation=generation, video_ids=video_ids)
        if strategy != BASELINE:
            count += pairs_generate(project=project, strategy=strategy, per_prompt=per_prompt)
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


def _baseline_pairs(*, project: Project, generation: Generation, video_ids: list[int]) -> int:
    """One pair per candidate and its baseline (skipped where it exists), the A/B order random as every pair's."""
    rng = random.Random(generation.pk)
    videos = Video.objects.in_bulk(video_ids)
    made = 0
    for candidate_id, baseline_id in baseline_couples(generation, video_ids):
        both = (candidate_id, baseline_id)
        if Pair.objects.filter(project=project, video_a_id__in=both, video_b_id__in=both).exists():
            continue
        a, b = both if rng.random() < 0.5 else both[::-1]
        Pair.objects.create(project=project, prompt_id=videos[candidate_id].prompt_id, video_a_id=a, video_b_id=b,
                            target=project.overlap, shuffle_key=rng.randrange(2**31), strategy=BASELINE)
        made += 1
    return made
