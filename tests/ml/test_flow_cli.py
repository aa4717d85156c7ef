"""``python -m rewardlab.ml`` for alignment: flags are the config fields, results are JSON."""

import json

import pytest
import torch

from rewardlab.ml.__main__ import main
from rewardlab.ml.pipelines.wan import resolve_dtype
from tests.ml.flow_helpers import write_toy_pairs


def test_the_cli_makes_a_tiny_wan_aligns_it_and_generates_with_the_adapter(tmp_path, capsys):
    main(["make-tiny-wan", str(tmp_path / "wan")])
    assert (tmp_path / "wan" / "model_index.json").is_file()
    pairs = write_toy_pairs(tmp_path / "data", n_pairs=2)
    capsys.readouterr()

    main(["align", "--method", "flow_dpo", "--base-model-path", str(tmp_path / "wan"), "--pairs-file", str(pairs),
          "--output-dir", str(tmp_path / "run"), "--weights", "overall=1,vq=0.5", "--batch-size", "2",
          "--lora-r", "4", "--lora-alpha", "8", "--cache-dir", str(tmp_path / "cache"), "--no-gradient-checkpointing"])
    result = json.loads(capsys.readouterr().out)
    assert result["steps"] == 1 and result["adapter_dir"] == str(tmp_path / "run" / "adapter")

    main(["generate", "--base-model-path", str(tmp_path / "wan"), "--prompts", "a red ball", "--seeds", "3",
          "--output-dir", str(tmp_path / "videos"), "--adapter-dir", result["adapter_dir"], "--num-frames", "5",
          "--height", "32", "--width", "32", "--steps", "2"])
    (video,) = json.loads(capsys.readouterr().out)
    assert video["model"] == "aligned" and video["seed"] == 3 and video["path"].endswith(".mp4")

def test_weights_are_written_dimension_equals_weight(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--base-model-path", "x", "--prompts", "p", "--seeds", "0", "--output-dir", "o",
              "--nrg", "vq"])
    assert "write dimension=weight" in capsys.readouterr().err


def test_flow_dtypes_take_train_rewards_names_and_still_the_old_ones():
    names = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32, "auto": torch.float32,
             "bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
    assert {name: resolve_dtype(name, torch.device("cpu")) for name in names} == names
