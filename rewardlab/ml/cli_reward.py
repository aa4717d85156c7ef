"""Reward commands of `python -m rewardlab.ml`: train-reward, evaluate-reward, score, make-tiny-reward-base.

train-reward's flags are the fields of RewardTrainConfig (see cli_config.py), plus the short spellings below.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from tqdm import tqdm

from rewardlab.ml.cli_config import add_config_arguments, config_from_args, key_values
from rewardlab.ml.evaluate_reward import evaluate_reward
from rewardlab.ml.reward_model import VideoRewardScorer
from rewardlab.ml.tiny_qwen import make_tiny_reward_base
from rewardlab.ml.train_reward import RewardTrainConfig, train_reward


def _write_json(data: dict, path: str | None) -> None:
    text = json.dumps(data, indent=2)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text + "\n")
    print(text)


def _csv(value: str) -> list[str]:
    return [v.strip().lower() for v in value.split(",") if v.strip()]


def _weights(value: str) -> dict[str, float]:
    """"VQ=1,mq=1,ta=2" -> {"vq": 1.0, "mq": 1.0, "ta": 2.0}: dimension keys are lower case."""
    return {k.lower(): v for k, v in key_values(value).items()}


def _split(value: str) -> str | None:
    return value or None  # '': every row


TRAIN_OPTIONS = {  # the short spellings of the README and scripts, and what the field types cannot say
    "base_model_path": {"flags": ["--base"], "help": "Qwen2-VL base model folder"},
    "train_file": {"flags": ["--train"], "help": "dataset-version .jsonl or RewardBench .csv"},
    "output_dir": {"flags": ["--out"], "help": "run folder (checkpoint/, result.json)"},
    "val_file": {"flags": ["--val"]},
    "train_split": {"type": _split, "help": "JSONL split to train on ('' for all)"},
    "val_split": {"type": _split, "help": "JSONL split to validate on ('' for all)"},
    "video_root": {"help": "folder relative video paths start from (default: the pair file's)"},
    "dimensions": {"flags": ["--dims"], "type": _csv, "nargs": None, "help": "dimension keys, e.g. vq,mq,ta"},
    "device": {"help": "auto | cpu | cuda | cuda:N"},
    "resume": {"help": "--no-resume starts over"},
    "frame_cache_dir": {"flags": ["--frame-cache"], "help": "folder caching decoded, resized frames"},
    "overall_weights": {"type": _weights, "help": "e.g. vq=1,mq=1,ta=1"},
    "prompt_template": {"type": lambda path: Path(path).read_text(encoding="utf-8"),
                        "help": "file with the user text: {prompt} and each reward token, e.g. <|VQ_reward|>, once"},
}


def train(args: argparse.Namespace) -> None:
    config = config_from_args(RewardTrainConfig, args)
    stop = {"asked": False}

    def on_interrupt(signum, frame):  # first Ctrl-C: stop cleanly at the next step, resumable
        if stop["asked"]:
            raise KeyboardInterrupt
        stop["asked"] = True
        tqdm.write("stopping after this step; run the same command again to resume")

    master = int(os.environ.get("RANK", "0")) == 0  # under torchrun, one process reports
    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        with tqdm(desc="train-reward", unit="step", disable=not master) as bar:
            def progress(record: dict) -> None:
                if "activity" in record:
                    bar.set_description(f"train-reward: {record['activity']}")
                    return
                bar.total = record["total_steps"]
                bar.n = record["step"]
                acc = " ".join(f"{d}={a:.2f}" for d, a in record["acc"].items() if a is not None)
                bar.set_postfix_str(f"loss={record['loss']:.4f} {acc} lr={record['lr']:.2e}")

            result = train_reward(config, progress=progress, should_stop=lambda: stop["asked"])
    finally:
        signal.signal(signal.SIGINT, previous)
    if master:
        summary = {k: v for k, v in result.items() if k != "history"}
        summary["final_loss"] = result["history"][-1]["loss"] if result["history"] else None
        _write_json(summary, args.metrics or str(Path(config.output_dir) / "train_metrics.json"))


def evaluate(args: argparse.Namespace) -> None:
    with tqdm(desc="evaluate-reward", unit="video") as bar:
        def progress(state: dict) -> None:
            bar.total = state["total"]
            bar.n = state["done"]
            bar.refresh()

        metrics = evaluate_reward(checkpoint_dir=args.checkpoint, base_model_path=args.base, pairs_file=args.pairs,
                                  device=args.device, progress=progress, split=args.split or None,
                                  video_root=args.video_root, batch_size=args.batch_size)
    _write_json(metrics, args.metrics)


def score(args: argparse.Namespace) -> None:
    scorer = VideoRewardScorer.from_checkpoint(args.checkpoint, base_model_path=args.base, device=args.device)
    with tqdm(total=len(args.video), desc="score", unit="video", file=sys.stderr) as bar:
        scores = scorer.score_many([(args.prompt, v) for v in args.video], batch_size=args.batch_size,
                                   normalize=not args.raw, progress=bar.update)
    for video, result in zip(args.video, scores, strict=True):
        print(json.dumps({"video": video, "scores": result}))


def make_tiny_base(args: argparse.Namespace) -> None:
    print(make_tiny_reward_base(args.out, seed=args.seed))


def register(commands) -> None:
    p = commands.add_parser("train-reward", help="train a VideoReward model on preference pairs (resumable)")
    add_config_arguments(p, RewardTrainConfig, TRAIN_OPTIONS)
    p.add_argument("--metrics", help="write the result JSON here (default OUT/train_metrics.json)")
    p.set_defaults(func=train)

    p = commands.add_parser("evaluate-reward", help="accuracy with/without ties of a checkpoint on labelled pairs")
    p.add_argument("--checkpoint", required=True, help="our checkpoint folder or a released VideoReward folder")
    p.add_argument("--base", help="base model folder (default: the one the checkpoint records)")
    p.add_argument("--pairs", required=True, help="dataset-version .jsonl or RewardBench .csv")
    p.add_argument("--split", default="test", help="JSONL split to evaluate (default test; '' for all)")
    p.add_argument("--video-root")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--metrics", help="also write the metrics JSON here")
    p.set_defaults(func=evaluate)

    p = commands.add_parser("score", help="score videos for one prompt (normalised per dimension + overall)")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--base")
    p.add_argument("--prompt", required=True)
    p.add_argument("--video", required=True, nargs="+")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--raw", action="store_true", help="raw rewards, not normalised")
    p.set_defaults(func=score)

    p = commands.add_parser("make-tiny-reward-base", help="write a tiny random Qwen2-VL base (tests, demo)")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=make_tiny_base)
