"""`python -m rewardlab.ml` reward commands, on the real VideoAlign example clips and CSV."""

import argparse
import json
import signal
from dataclasses import fields

import pytest

from rewardlab.ml import cli_reward
from rewardlab.ml.__main__ import main
from rewardlab.ml.cli_config import config_from_args
from rewardlab.ml.train_reward import RewardTrainConfig
from tests.conftest import FIXTURES


def last_json(text: str) -> dict:
    """The JSON document a command printed last (tqdm writes to stderr)."""
    return json.loads(text[text.index("{"):])


@pytest.mark.slow  # trains
def test_train_evaluate_and_score_from_the_command_line(tiny_base, tmp_path, capsys):
    out = tmp_path / "run"
    handler = signal.getsignal(signal.SIGINT)
    main(["train-reward", "--base", str(tiny_base), "--train", str(FIXTURES / "example.csv"), "--out", str(out),
          "--max-steps", "2", "--batch-size", "2", "--lora-r", "4", "--lora-alpha", "8", "--max-pixels", "3136", "--min-pixels", "3136",
          "--vision", "frozen", "--lr", "1e-4", "--num-workers", "1", "--frame-cache", str(tmp_path / "frames")])
    trained = last_json(capsys.readouterr().out)
    assert signal.getsignal(signal.SIGINT) is handler  # Ctrl-C handling is put back
    assert trained["steps"] == 2 and not trained["stopped"]
    assert set(trained["norm"]) == {"vq", "mq", "ta"}
    assert json.loads((out / "train_metrics.json").read_text())["checkpoint"] == str(out / "checkpoint")

    main(["evaluate-reward", "--checkpoint", str(out / "checkpoint"), "--pairs", str(FIXTURES / "example.csv"),
          "--device", "cpu", "--metrics", str(tmp_path / "eval.json")])
    metrics = last_json(capsys.readouterr().out)
    assert metrics == json.loads((tmp_path / "eval.json").read_text())
    vq = metrics["dimensions"]["vq"]
    assert (vq["n_pairs"], vq["n_decided"]) == (12, 8)  # example.csv: 3 pairs (B, same, A) written 4 times
    assert metrics["overall"]["n_pairs"] == 0  # the example CSV has no Overall column

    videos = [str(FIXTURES / "videos" / "example_1_A.mp4"), str(FIXTURES / "videos" / "example_1_B.mp4")]
    main(["score", "--checkpoint", str(out / "checkpoint"), "--prompt", "a girl sits on a chair", "--video",
          *videos, "--device", "cpu"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["video"] for line in lines] == videos
    assert set(lines[0]["scores"]) == {"vq", "mq", "ta", "overall"}


def test_make_tiny_reward_base_command(tmp_path, capsys):
    main(["make-tiny-reward-base", "--out", str(tmp_path / "base")])
    assert (tmp_path / "base" / "config.json").exists()
    assert (tmp_path / "base" / "preprocessor_config.json").exists()


def test_train_reward_requires_its_paths(capsys):
    with pytest.raises(SystemExit):
        main(["train-reward", "--base", "x"])
    assert "--train" in capsys.readouterr().err


def test_train_reward_has_a_flag_per_config_field_and_keeps_the_short_spellings(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train-reward", "--help"])
    usage = capsys.readouterr().out
    assert all(f"--{f.name.replace('_', '-')}" in usage for f in fields(RewardTrainConfig))

    parser = argparse.ArgumentParser()
    cli_reward.register(parser.add_subparsers())
    args = parser.parse_args(["train-reward", "--base", "b", "--train", "t.csv", "--out", str(tmp_path), "--dims",
                              "VQ,mq", "--train-split", "", "--no-resume", "--dtype", "bf16", "--overall-weights",
                              "VQ=2,mq=1"])
    config = config_from_args(RewardTrainConfig, args)
    assert (config.base_model_path, config.train_file, config.output_dir) == ("b", "t.csv", str(tmp_path))
    assert config.dimensions == ["vq", "mq"] and config.overall_weights == {"vq": 2.0, "mq": 1.0}
    assert config.train_split is None and config.resume is False and config.dtype == "bf16"
    assert config.val_split == "val" and config.lr == RewardTrainConfig.lr  # flags left out: the config's defaults
