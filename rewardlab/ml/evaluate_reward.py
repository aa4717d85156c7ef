"""Evaluate a reward checkpoint on labelled pairs: accuracy with and without ties, per dimension and overall.

Each distinct (prompt, video) is scored once (normalised scores, as VideoAlign evaluates), then every pair's
score difference A - B is compared with its human label (metrics.py has the definitions).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rewardlab.ml.data import PreferencePair, load_pairs, require_video_files
from rewardlab.ml.metrics import pairwise_metrics
from rewardlab.ml.reward_model import VideoRewardScorer

HUMAN = {"A": 1, "B": -1, "tie": 0}


def evaluate_pairs(scorer: VideoRewardScorer, pairs: list[PreferencePair], *, batch_size: int = 4,
                   progress: Callable[[dict], None] | None = None) -> dict:
    """{"dimensions": {dim: metrics}, "overall": metrics}; "overall" compares the checkpoint's overall score (the
    sum of the dimensions in VideoAlign mode) with the pairs' "overall" labels. Pairs keep their order, which
    VideoAlign's tie-calibrated accuracy depends on. A dimension without labels in `pairs` gets n_pairs 0 and None
    accuracies."""
    videos = sorted({(p.prompt, str(v)) for p in pairs for v in (p.path_a, p.path_b)})
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress({"done": done, "total": len(videos)})

    scores = dict(zip(videos, scorer.score_many(videos, batch_size=batch_size, progress=advance), strict=True))

    def metrics(dim: str) -> dict:
        labelled = [p for p in pairs if p.labels.get(dim) is not None]
        human = [HUMAN[p.labels[dim]] for p in labelled]
        diff = [scores[(p.prompt, str(p.path_a))][dim] - scores[(p.prompt, str(p.path_b))][dim] for p in labelled]
        return pairwise_metrics(human, diff)

    return {"dimensions": {d: metrics(d) for d in scorer.dimensions}, "overall": metrics("overall")}


def evaluate_reward(*, checkpoint_dir: str | Path, base_model_path: str | Path | None = None,
                    pairs_file: str | Path, device: str = "auto", progress: Callable[[dict], None] | None = None,
                    split: str | None = "test", video_root: str | Path | None = None, batch_size: int = 4) -> dict:
    """Score a pair file (dataset-version JSONL, its `split` rows; or a RewardBench CSV) with a checkpoint."""
    pairs = load_pairs(pairs_file, split=split, video_root=video_root)
    scorer = VideoRewardScorer.from_checkpoint(checkpoint_dir, base_model_path=base_model_path, device=device)
    wanted = [*scorer.dimensions, "overall"]
    pairs = [p for p in pairs if any(p.labels.get(d) is not None for d in wanted)]
    if not pairs:
        raise ValueError(f"{pairs_file}: no pairs with labels for {wanted}" + (f" in split {split!r}" if split else ""))
    require_video_files(pairs, str(pairs_file))
    return evaluate_pairs(scorer, pairs, batch_size=batch_size, progress=progress)
