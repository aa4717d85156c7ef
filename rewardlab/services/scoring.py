"""Reward scores of videos: one prompt + video on request, and a project's stored videos in a scoring run.

Stored scores (``VideoScore``) feed the ``uncertainty`` pair strategy and the quality page's human–model
agreement, so neither needs a model in the web process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from annotation import storage
from annotation.models import Video
from config.errors import InvalidInput
from rewardlab import conf
from rewardlab.models import RewardModel, VideoScore
from rewardlab.selectors import unscored_videos

SCORE_CHUNK = 16  # videos fetched and scored together (remote storage downloads this many at a time)

_scorers: dict[tuple[str, str], object] = {}
_lock = threading.RLock()


def _scorer(reward_model: RewardModel):
    """The loaded checkpoint, kept for the next request; one at a time (they are big)."""
    from rewardlab.ml.reward_model import VideoRewardScorer

    key = (reward_model.checkpoint_dir, reward_model.base_model_path)
    with _lock:
        if key not in _scorers:
            _scorers.clear()
            _scorers[key] = VideoRewardScorer.from_checkpoint(reward_model.checkpoint_dir, base_model_path=reward_model.base_model_path,
                                                              device=conf.device())
        return _scorers[key]


def score_file(*, reward_model: RewardModel, prompt: str, path: Path) -> dict[str, float]:
    """Per-dimension and overall scores (z-scores on the training set's scale) of one video file."""
    from rewardlab.ml.video import VideoDecodeError

    if not prompt.strip():
        raise InvalidInput("The prompt is empty.", fields={"prompt": ["empty"]})
    try:
        with _lock:  # one forward pass at a time per process: the model is shared
            return _scorer(reward_model).score(prompt, str(path))
    except VideoDecodeError as exc:
        raise InvalidInput(f"The video cannot be scored: {exc}", fields={"file": ["unreadable video"]}) from exc


def score_video(*, reward_model: RewardModel, video: Video) -> dict[str, float]:
    """A stored video's scores, computed once per reward model."""
    if video.project_id != reward_model.project_id:
        raise InvalidInput(f"Video {video.pk} is not in project {reward_model.project_id}.", fields={"video_id": ["other project"]})
    if video.status != Video.Status.READY:
        raise InvalidInput(f"Video {video.pk} is {video.status}; only ready videos can be scored.", fields={"video_id": [video.status]})
    cached = VideoScore.objects.filter(reward_model=reward_model, video=video).values_list("scores", flat=True).first()
    if cached is not None:
        return cached
    with storage.local_file(video.playback or video.original) as path:
        scores = score_file(reward_model=reward_model, prompt=video.prompt.text, path=path)
    VideoScore.objects.get_or_create(reward_model=reward_model, video=video, defaults={"scores": scores})
    return scores


def score_unscored_videos(*, reward_model: RewardModel, progress: Callable[[dict], None] | None = None) -> int:
    """Score every ready video of the project that this model has not scored; returns how many it scored."""
    scorer = _scorer(reward_model)
    pending = list(unscored_videos(reward_model))
    for start in range(0, len(pending), SCORE_CHUNK):
        chunk = pending[start:start + SCORE_CHUNK]
        with ExitStack() as files:
            items = [(v.prompt.text, str(files.enter_context(storage.local_file(v.playback or v.original)))) for v in chunk]
            scores = scorer.score_many(items)
        VideoScore.objects.bulk_create([VideoScore(reward_model=reward_model, video=v, scores=s) for v, s in zip(chunk, scores, strict=True)],
                                       ignore_conflicts=True)
        if progress:
            progress({"done": start + len(chunk), "total": len(pending)})
    return len(pending)
