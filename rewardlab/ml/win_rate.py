"""Did alignment help? Per-dimension win rate of the aligned model over its base (the paper's tables).

Both models sample every held-out prompt with the same seeds (so the same starting noise), a VideoReward
scores every video, and the aligned video wins a dimension when it scores higher than the base video of the
same prompt and seed (a tie counts half). The videos stay on disk with ``manifest.jsonl`` (prompt, video,
model, seed) so they can be imported as a new annotation round for people to judge.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from rewardlab.ml.generate import GenerateConfig, generate_videos
from rewardlab.ml.intervals import bootstrap_ci95, score_outcome
from rewardlab.ml.prompt_sets import PROMPT_SETS, read_prompts

__all__ = ["PROMPT_SETS", "WinRateConfig", "evaluate_alignment", "read_prompts", "win_rate_intervals", "win_rates"]


@dataclass
class WinRateConfig:
    base_model_path: str
    reward_checkpoint: str  # VideoReward folder that scores both models' videos
    output_dir: str
    adapter_dir: str | None = None  # the aligned model is the base plus this LoRA ...
    nrg_checkpoint: str | None = None  # ... and/or Flow-NRG guided sampling
    nrg_weights: dict[str, float] | None = None
    nrg_scale: float = 1.0
    prompts: list[str] | None = None
    prompts_file: str | None = None  # a bundled prompt set (vbench / videogen_eval / TA_hard), a CSV with a "prompt" column or .txt
    max_prompts: int | None = None
    seeds: list[int] = field(default_factory=lambda: [0, 1])  # as alignment runs measure it (hyperparameters.py)
    reward_base_model_path: str | None = None
    base_name: str = "base"
    aligned_name: str = "aligned"
    num_frames: int = 81
    height: int = 480
    width: int = 832
    steps: int = 50
    guidance_scale: float = 5.0
    negative_prompt: str = ""
    fps: int = 16
    device: str = "auto"
    dtype: str = "auto"


def win_rates(aligned: list[dict[str, float]], base: list[dict[str, float]]) -> dict[str, float]:
    """Per dimension: (wins + ties / 2) / n over matched (prompt, seed) scores."""
    rates = {}
    for dim in aligned[0]:
        wins = sum(score_outcome(a[dim], b[dim]) for a, b in zip(aligned, base, strict=True))
        rates[dim] = wins / len(aligned)
    return rates


def win_rate_intervals(aligned: list[dict[str, float]], base: list[dict[str, float]], prompts: list[str]) -> dict:
    """Per dimension, the 95% bootstrap interval of ``win_rates``: whole prompts are resampled (the seeds of one
    prompt are not independent draws)."""
    intervals = {}
    for dim in aligned[0]:
        by_prompt: dict[str, list[float]] = {}
        for a, b, prompt in zip(aligned, base, prompts, strict=True):
            by_prompt.setdefault(prompt, []).append(score_outcome(a[dim], b[dim]))
        intervals[dim] = bootstrap_ci95(list(by_prompt.values()))
    return intervals


def evaluate_alignment(config: WinRateConfig, *, progress: Callable[[dict], None] | None = None) -> dict:
    if not (config.adapter_dir or config.nrg_checkpoint):
        raise ValueError("nothing to compare: set adapter_dir (Flow-DPO/RWR) and/or nrg_checkpoint (Flow-NRG)")
    prompts = list(config.prompts or []) + (read_prompts(config.prompts_file) if config.prompts_file else [])
    prompts = list(dict.fromkeys(prompts))[: config.max_prompts]
    if not prompts:
        raise ValueError("no prompts: give prompts or a prompts_file")
    out = Path(config.output_dir)
    videos = {}
    per_model = len(prompts) * len(config.seeds)
    for offset, (name, adapter, nrg) in zip((0, per_model), ((config.base_name, None, None),
                                                            (config.aligned_name, config.adapter_dir, config.nrg_checkpoint)),
                                            strict=True):
        def counted(record: dict, offset: int = offset) -> None:  # one count over both models: it never goes back
            if progress:
                progress({**record, "done": offset + record["done"], "total": 2 * per_model} if "done" in record else record)

        videos[name] = generate_videos(GenerateConfig(
            base_model_path=config.base_model_path, prompts=prompts, seeds=list(config.seeds),
            output_dir=str(out / "videos"), adapter_dir=adapter, nrg_checkpoint=nrg, nrg_weights=config.nrg_weights,
            nrg_scale=config.nrg_scale, num_frames=config.num_frames, height=config.height, width=config.width,
            steps=config.steps, guidance_scale=config.guidance_scale, negative_prompt=config.negative_prompt,
            fps=config.fps, model_name=name, device=config.device, dtype=config.dtype,
        ), progress=counted)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # the video model is gone before the reward model loads

    from rewardlab.ml.reward_model import VideoRewardScorer

    if progress:
        progress({"activity": "scoring both models' videos with the reward model"})
    scorer = VideoRewardScorer.from_checkpoint(
        config.reward_checkpoint, base_model_path=config.reward_base_model_path, device=config.device
    )
    scores = {name: [scorer.score(v["prompt"], v["path"]) for v in rows] for name, rows in videos.items()}
    rates = win_rates(scores[config.aligned_name], scores[config.base_name])
    intervals = win_rate_intervals(scores[config.aligned_name], scores[config.base_name],
                                   [v["prompt"] for v in videos[config.aligned_name]])

    manifest = out / "manifest.jsonl"
    with manifest.open("w", encoding="utf-8") as f:
        for name, rows in videos.items():
            for row, score in zip(rows, scores[name], strict=True):
                f.write(json.dumps({
                    "prompt": row["prompt"], "video": str(Path(row["path"]).relative_to(out)), "model": name,
                    "seed": row["seed"], "meta": {"reward_scores": score},
                }) + "\n")
    mean = {name: {d: sum(s[d] for s in rows) / len(rows) for d in rows[0]} for name, rows in scores.items()}
    result = {"win_rate": rates, "ci95": intervals, "n": len(scores[config.aligned_name]), "videos_manifest": str(manifest),
              "mean_scores": mean, "config": asdict(config)}
    (out / "win_rate.json").write_text(json.dumps(result, indent=1))
    return result
