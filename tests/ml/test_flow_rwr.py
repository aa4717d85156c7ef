"""Flow-RWR: the batch-normalised reward weights, and reward-weighted LoRA training on a tiny Wan."""

import math

import pytest
import torch

from rewardlab.ml.align import AlignConfig, run_alignment
from rewardlab.ml.flow_rwr import flow_rwr_loss, rwr_weights
from rewardlab.ml.tiny_wan import make_tiny_wan
from tests.ml.flow_helpers import write_toy_pairs


def test_rwr_weights_are_exp_reward_over_tau_normalised_over_the_batch():
    rewards = torch.tensor([1.0, 0.0, -1.0])
    expected = torch.tensor([math.e**2, 1.0, math.e**-2]) / (math.e**2 + 1 + math.e**-2)  # τ = 0.5
    assert torch.allclose(rwr_weights(rewards, tau=0.5), expected)
    assert rwr_weights(rewards, tau=0.5).sum().item() == pytest.approx(1.0)


def test_rwr_temperature_runs_from_plain_flow_matching_to_imitating_the_best_video():
    rewards = torch.tensor([0.2, 3.0, -1.0])
    assert torch.allclose(rwr_weights(rewards, tau=1e6), torch.full((3,), 1 / 3))
    assert torch.allclose(rwr_weights(rewards, tau=1e-3), torch.tensor([0.0, 1.0, 0.0]))
    assert torch.equal(rwr_weights(rewards + 1000.0, tau=0.01), rwr_weights(rewards, tau=0.01))  # no overflow


def test_rwr_loss_is_the_weighted_sum_of_per_video_errors():
    errors = torch.tensor([2.0, 4.0])
    assert flow_rwr_loss(errors, torch.tensor([0.25, 0.75])).item() == pytest.approx(3.5)
    with pytest.raises(ValueError, match="rwr_tau must be > 0"):
        rwr_weights(errors, tau=0.0)


def test_flow_rwr_trains_a_lora_on_videos_with_given_rewards(tmp_path):
    base = make_tiny_wan(tmp_path / "tiny-wan")
    pairs = write_toy_pairs(tmp_path / "data", n_pairs=3)
    rewards = {str(p): (1.0 if "bright" in p.name else -1.0) for p in (tmp_path / "data").glob("*.mp4")}
    seen = []
    result = run_alignment(AlignConfig(
        method="flow_rwr", base_model_path=str(base), pairs_file=str(pairs), output_dir=str(tmp_path / "out"),
        rewards=rewards, rwr_tau=0.5, batch_size=3, micro_batch_size=2, epochs=2, lr=1e-3, lora_r=4, lora_alpha=8,
        cache_dir=str(tmp_path / "cache"),
    ), progress=seen.append)
    assert result["num_examples"] == 6 and result["steps"] == 4  # every video once per epoch
    seen = [r for r in seen if "step" in r]  # the run also reports its activity (loading, encoding)
    assert len(seen) == 4 and all(math.isfinite(r["loss"]) and r["implicit_acc"] is None for r in seen)
    assert all(-1.0 <= r["mean_reward"] <= 1.0 for r in seen)
    assert (tmp_path / "out" / "adapter" / "pytorch_lora_weights.safetensors").is_file()


def test_flow_rwr_names_a_video_without_a_reward(tmp_path):
    base = make_tiny_wan(tmp_path / "tiny-wan")
    pairs = write_toy_pairs(tmp_path / "data", n_pairs=1)
    with pytest.raises(ValueError, match="no reward for .*mp4"):
        run_alignment(AlignConfig(method="flow_rwr", base_model_path=str(base), pairs_file=str(pairs),
                                  output_dir=str(tmp_path / "out"), rewards={"elsewhere.mp4": 1.0}))
