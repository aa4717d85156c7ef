"""Training VideoReward on CPU: it learns what the demo's clips show, it resumes exactly, it refuses bad data."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from annotation.synthetic_videos import CONTENTS, DEMO_MODELS, make_clip
from rewardlab.ml.evaluate_reward import evaluate_reward
from rewardlab.ml.reward_model import VideoRewardScorer
from rewardlab.ml.train_reward import RewardTrainConfig, train_reward

# Each degraded demo model loses one dimension to the crisp one and ties the others.
DEGRADED = {"grainy-v1": "vq", "jittery-v1": "mq"}


def write_pairs(folder, *, seeds: range, split_from: int) -> str:
    """Demo clips for every content and seed; pairs crisp vs each degraded model, A/B order alternating."""
    rows = []
    for seed in seeds:
        for i, content in enumerate(CONTENTS):
            clips = {model: make_clip(folder / f"{model}_{content}_{seed}.mp4", width=112, height=56, seed=seed,
                                      content=content, **{k: v for k, v in DEMO_MODELS[model].items()
                                                          if k != "content"})
                     for model in ["crisp-v2", *DEGRADED]}
            for j, (model, dim) in enumerate(DEGRADED.items()):
                crisp_first = (i + j + seed) % 2 == 0
                a, b = (clips["crisp-v2"], clips[model]) if crisp_first else (clips[model], clips["crisp-v2"])
                winner = "A" if crisp_first else "B"
                rows.append({
                    "pair_id": f"{content}-{seed}-{model}", "prompt": f"a {content} pattern, seed {seed}",
                    "video_A": {"path": a.name}, "video_B": {"path": b.name},
                    "labels": {d: winner if d == dim else "tie" for d in ("vq", "mq")} | {"overall": winner},
                    "split": "test" if seed >= split_from else "train",
                })
    path = folder / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.fixture(scope="module")
def demo_pairs(tmp_path_factory):
    # 4 contents x 10 seeds; seeds 6 to 9 are held out (48 train pairs, 32 test pairs)
    return write_pairs(tmp_path_factory.mktemp("demo_clips"), seeds=range(10), split_from=6)


def config_for(tiny_base, pairs, out, **overrides) -> RewardTrainConfig:
    settings = dict(base_model_path=str(tiny_base), train_file=pairs, output_dir=str(out), dimensions=["vq", "mq"],
                    batch_size=4, lr=1e-3, lora_r=8, lora_alpha=16, max_pixels=56 * 112, min_pixels=56 * 112, seed=0,
                    frame_cache_dir=str(out.parent / "frames"))
    return RewardTrainConfig(**(settings | overrides))


@pytest.mark.slow
def test_tiny_model_learns_noise_and_jitter_on_held_out_demo_clips(tiny_base, demo_pairs, tmp_path):
    config = config_for(tiny_base, demo_pairs, tmp_path / "run", epochs=12, lr=5e-4, val_file=demo_pairs,
                        val_split="test")
    records = []
    result = train_reward(config, progress=records.append)

    assert result["steps"] == 12 * 12 and not result["stopped"]  # 48 pairs, 4 a step
    records = [r for r in records if "step" in r]  # the others say what it is doing ({"activity": ...})
    assert [r["step"] for r in records] == list(range(1, 145))
    assert records[0]["lr"] < records[-1]["lr"] == 5e-4  # warmup, then constant
    assert set(result["norm"]) == {"vq", "mq"}
    held_out = result["val"]["dimensions"]
    assert held_out["vq"]["n_decided"] == held_out["mq"]["n_decided"] == 16
    correct = 16 * (held_out["vq"]["acc_without_ties"] + held_out["mq"]["acc_without_ties"])
    # chance would be 16 of 32; 22 or more happens by luck with p < 0.025 (seeds 0-4 of this setup give 25-26)
    assert correct >= 22, held_out

    metrics = evaluate_reward(checkpoint_dir=result["checkpoint"], pairs_file=demo_pairs, device="cpu")
    assert metrics["dimensions"]["vq"]["acc_without_ties"] == held_out["vq"]["acc_without_ties"]
    assert metrics["overall"]["n_decided"] == 32


@pytest.mark.slow  # trains on the 120 rendered demo clips
def test_a_stopped_run_resumes_to_the_same_result_as_an_uninterrupted_one(tiny_base, demo_pairs, tmp_path):
    # dropout on, the vision tower trained in full, gradient accumulation: every piece of state matters
    settings = dict(max_steps=5, batch_size=2, grad_accum=2, lora_dropout=0.1, vision="full",
                    gradient_checkpointing=True)
    straight = train_reward(config_for(tiny_base, demo_pairs, tmp_path / "straight", **settings))

    calls = []
    stopped = train_reward(config_for(tiny_base, demo_pairs, tmp_path / "resumed", **settings),
                           progress=calls.append, should_stop=lambda: sum("step" in c for c in calls) >= 2)
    assert stopped["stopped"] and stopped["steps"] == 2
    assert (tmp_path / "resumed" / "checkpoint" / "training_state.pt").exists()
    resumed = train_reward(config_for(tiny_base, demo_pairs, tmp_path / "resumed", **settings))

    assert resumed["steps"] == 5 and not resumed["stopped"]
    assert [r["loss"] for r in resumed["history"]] == [r["loss"] for r in straight["history"]]
    assert resumed["norm"] == straight["norm"]
    for name in ("reward_head.safetensors", "adapter_model.safetensors", "vision.safetensors"):
        a = load_file(tmp_path / "straight" / "checkpoint" / name)
        b = load_file(tmp_path / "resumed" / "checkpoint" / name)
        assert all(torch.equal(a[k], b[k]) for k in a), name
    assert not (tmp_path / "resumed" / "checkpoint" / "training_state.pt").exists()  # final: no optimiser state


@pytest.mark.slow  # trains on the 120 rendered demo clips
def test_a_finished_run_returns_its_result_again(tiny_base, demo_pairs, tmp_path):
    config = config_for(tiny_base, demo_pairs, tmp_path / "run", max_steps=1, vision="frozen")
    first = train_reward(config)
    assert train_reward(config) == json.loads(json.dumps(first))


@pytest.mark.slow  # trains on the 120 rendered demo clips
def test_resuming_with_a_different_setting_names_it(tiny_base, demo_pairs, tmp_path):
    out = tmp_path / "run"
    train_reward(config_for(tiny_base, demo_pairs, out, max_steps=3, vision="frozen"), should_stop=lambda: True)
    with pytest.raises(ValueError, match="lr=0.001.*lr=0.01"):
        train_reward(config_for(tiny_base, demo_pairs, out, max_steps=3, vision="frozen", lr=1e-2))


@pytest.mark.slow  # trains on the 120 rendered demo clips
def test_a_dimension_without_decided_pairs_is_refused(tiny_base, demo_pairs, tmp_path):
    with pytest.raises(ValueError, match="no decided .* for dimension 'ta'"):
        train_reward(config_for(tiny_base, demo_pairs, tmp_path / "run", dimensions=["vq", "ta"]))


def test_missing_videos_are_named_before_training(tiny_base, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "p", "video_A": {"path": "gone_a.mp4"}, "video_B": {"path": "gone_b.mp4"},
                                 "labels": {"vq": "A"}, "split": "train"}) + "\n")
    with pytest.raises(FileNotFoundError, match="gone_a.mp4"):
        train_reward(config_for(tiny_base, str(pairs), tmp_path / "run", dimensions=["vq"]))


@pytest.mark.slow
def test_two_processes_under_torchrun_train_one_model(tiny_base, demo_pairs, tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "rewardlab.ml", "train-reward", "--base", str(tiny_base), "--train", demo_pairs,
               "--out", str(out), "--dims", "vq,mq", "--max-steps", "2", "--batch-size", "2", "--lora-r", "4",
               "--lora-alpha", "8", "--max-pixels", str(56 * 112), "--min-pixels", str(56 * 112), "--vision", "frozen", "--device", "cpu"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((out / "result.json").read_text())
    assert result["steps"] == 2
    assert result["history"][-1]["epoch"] == pytest.approx(2 * 2 * 2 / 48)  # 2 processes x 2 pairs a step
    clip = next(Path(demo_pairs).parent.glob("*.mp4"))
    scores = VideoRewardScorer.from_checkpoint(result["checkpoint"], device="cpu").score("a pattern", clip)
    assert set(scores) == {"vq", "mq", "overall"}
