"""``python -m rewardlab.ml align | generate | train-nrg | win-rate | make-tiny-wan``.

Each command's flags are the fields of its config dataclass (``--batch-size`` sets ``batch_size``; see
cli_config.py), so the CLI cannot drift from the configs that Django and Celery build. Results print as JSON.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from tqdm import tqdm

from rewardlab.ml.align import AlignConfig, run_alignment
from rewardlab.ml.cli_config import add_config_arguments, config_from_args
from rewardlab.ml.flow_nrg import LatentRewardTrainConfig, train_latent_reward
from rewardlab.ml.generate import GenerateConfig, generate_videos
from rewardlab.ml.tiny_wan import make_tiny_wan
from rewardlab.ml.win_rate import WinRateConfig, evaluate_alignment

OPTIONS = {  # what the field types cannot say (see cli_config.add_config_arguments)
    "nrg_weights": {"flags": ["--nrg"]},  # the spelling: generate --nrg vq=1,mq=1,ta=1
    "dtype": {"help": "auto (bf16 on CUDA, fp32 on CPU) | bf16 | fp16 | fp32"},
}


def _progress_bar(desc: str) -> tuple[tqdm, Callable[[dict], None]]:
    bar = tqdm(desc=desc, unit="step")

    def update(record: dict) -> None:
        if "activity" in record:
            bar.set_description(f"{desc}: {record['activity']}")
        if not any(k in record for k in ("step", "done")):
            return
        bar.total = record.get("total_steps", record.get("total"))
        bar.update(1)
        shown = {k: record[k] for k in ("loss", "implicit_acc", "margin", "accuracy") if record.get(k) is not None}
        bar.set_postfix({k: f"{v:.4g}" for k, v in shown.items()})

    return bar, update


def _command(name: str, config_class: type, run: Callable) -> Callable[[argparse.Namespace], None]:
    """Build the config from the flags, run with a progress bar, print the result as JSON (without history)."""
    def command(args: argparse.Namespace) -> None:
        bar, update = _progress_bar(name)
        with bar:
            result = run(config_from_args(config_class, args), progress=update)
        if isinstance(result, dict):
            result = {k: v for k, v in result.items() if k not in ("history", "config")}
        print(json.dumps(result, indent=1, default=str))

    return command


def _make_tiny_wan(args: argparse.Namespace) -> None:
    print(make_tiny_wan(args.path))


def register(subparsers) -> None:
    commands = [
        ("align", "Flow-DPO / Flow-RWR LoRA alignment of a flow video model on preference pairs",
         AlignConfig, run_alignment),
        ("train-nrg", "train a Flow-NRG latent reward model on preference pairs",
         LatentRewardTrainConfig, train_latent_reward),
        ("generate", "sample videos (base, LoRA adapter, Flow-NRG guidance with --nrg)", GenerateConfig, generate_videos),
        ("win-rate", "per-dimension win rate of an aligned model over its base, scored by a VideoReward",
         WinRateConfig, evaluate_alignment),
    ]
    for name, help_text, config_class, run in commands:
        parser = subparsers.add_parser(name, help=help_text, description=help_text)
        add_config_arguments(parser, config_class, OPTIONS)
        parser.set_defaults(func=_command(name, config_class, run))
    parser = subparsers.add_parser("make-tiny-wan", help="save a tiny random WanPipeline (tests, demo)")
    parser.add_argument("path")
    parser.set_defaults(func=_make_tiny_wan)
