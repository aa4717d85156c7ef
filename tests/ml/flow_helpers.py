"""Toy preference data for the flow-alignment tests: real MP4 clips where the winner is the brighter video."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from rewardlab.ml.generate import write_video
from tests.conftest import FIXTURES  # noqa: F401  (re-exported for the flow tests)
from tests.ml.conftest import one_cpu_thread  # noqa: F401  (re-exported for module-scoped fixtures)


def write_clip(path: Path, frames: torch.Tensor, fps: int = 16) -> Path:
    """uint8-able float frames (T, H, W, 3) -> MP4."""
    return write_video(frames.clamp(0, 255).to(torch.uint8), path, fps=fps)


def write_toy_pairs(
    root: Path, *, n_pairs: int, seed: int = 0, size: tuple[int, int] = (32, 32), frames: int = 9,
    name: str = "pairs.jsonl", labels: dict | None = None,
) -> Path:
    """A dataset-version JSONL of pairs (bright, dark) of one random pattern; "overall" prefers the bright one,
    "vq" is a tie, "mq" is unlabelled. A/B order alternates so the label is not always "A"."""
    root.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(n_pairs):
        pattern = torch.rand(frames, *size, 3, generator=generator) * 100
        bright = write_clip(root / f"{seed}-{i}-bright.mp4", pattern + 140)
        dark = write_clip(root / f"{seed}-{i}-dark.mp4", pattern + 10)
        a, b = (bright, dark) if i % 2 == 0 else (dark, bright)
        rows.append({
            "pair_id": f"{seed}-{i}", "prompt": f"a textured wall, take {seed}-{i}", "split": "train",
            "video_A": {"path": a.name}, "video_B": {"path": b.name},
            "labels": labels or {"overall": "A" if a == bright else "B", "vq": "tie", "mq": None},
        })
    path = root / name
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path
