"""The ``uncertainty`` pair strategy: annotators get the pairs the project's reward model is least sure about.

Uncertainty of a pair = how close the model scores its two videos: the mean over the model's dimensions of
|score_A - score_B| on the normalised (z-score) scale. Under the Bradley–Terry–With-Ties model the tie
probability falls as |Δ| grows, so the closest pairs are also the likeliest ties. Registered with the
annotation app's strategy registry when the rewardlab app loads.
"""

from __future__ import annotations

from collections.abc import Iterator

from annotation.services.pairing import PairingContext, PromptVideos, VideoRef, register_strategy
from config.errors import Conflict, InvalidInput
from rewardlab.models import RewardModel, VideoScore


def score_gap(a: dict[str, float], b: dict[str, float], dimensions: list[str]) -> float:
    return sum(abs(a[d] - b[d]) for d in dimensions) / len(dimensions)


@register_strategy("uncertainty")
def uncertainty(context: PairingContext, prompts: list[PromptVideos]) -> Iterator[tuple[VideoRef, VideoRef]]:
    model = RewardModel.objects.filter(project=context.project, is_active=True).first()
    if model is None:
        raise InvalidInput("The uncertainty strategy needs the project's reward model: train one and promote it on "
                           "the Runs page (or use another strategy).", fields={"strategy": ["no project reward model"]})
    video_ids = {v.id for prompt in prompts for v in prompt.videos}
    scores = dict(VideoScore.objects.filter(reward_model=model, video_id__in=video_ids).values_list("video_id", "scores"))
    unscored = video_ids - set(scores)
    if unscored:
        # Scoring runs on a GPU worker; the run sweeper queues it for new videos within a minute.
        raise Conflict(f"The reward model {model.name!r} has not scored {len(unscored)} of these {len(video_ids)} videos yet. "
                       "A scoring run is queued for them; try again when it has finished (Runs page).", code="videos_unscored")
    dimensions = list(model.dimensions)
    for prompt in prompts:
        candidates = sorted(prompt.candidates(), key=lambda p: (score_gap(scores[p[0].id], scores[p[1].id], dimensions), p[0].id, p[1].id))
        yield from candidates[:context.missing(prompt)]
