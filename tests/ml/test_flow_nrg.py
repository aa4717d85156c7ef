"""Flow-NRG: the guidance sign against the scheduler, and a trained latent reward model steering sampling."""

import json

import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from rewardlab.ml.align import NoDecidedPairsError
from rewardlab.ml.flow_nrg import (
    LatentRewardModel,
    LatentRewardTrainConfig,
    dimension_weights,
    guided_velocity,
    train_latent_reward,
)
from rewardlab.ml.generate import nrg_correction, sample_latents
from rewardlab.ml.pipelines import load_flow_pipeline
from rewardlab.ml.tiny_wan import make_tiny_wan
from tests.ml.flow_helpers import one_cpu_thread, write_toy_pairs


def test_guidance_moves_a_flow_match_euler_step_up_the_reward():
    # r(x) = <a, x>, so ∇r = a; one scheduler step with ṽ must gain (σ - σ_next) · w · σ/(1-σ) · |a|² reward
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    scheduler.set_timesteps(4)
    generator = torch.Generator().manual_seed(0)
    x, v, a = (torch.randn(1, 4, 2, 4, 4, generator=generator) for _ in range(3))
    sigma, sigma_next = scheduler.sigmas[1].item(), scheduler.sigmas[2].item()
    assert sigma_next < sigma  # sampling runs from noise (σ = 1) down to data (σ = 0)

    def step(velocity):
        scheduler.set_timesteps(4)
        scheduler.set_begin_index(1)
        return scheduler.step(velocity, scheduler.timesteps[1], x, return_dict=False)[0]

    plain = step(v)
    guided = step(guided_velocity(v, a, sigma, scale=0.5, max_factor=10.0))
    gain = ((guided - plain) * a).sum().item()
    assert gain > 0
    assert gain == pytest.approx((sigma - sigma_next) * 0.5 * sigma / (1 - sigma) * a.pow(2).sum().item(), rel=1e-4)


def test_guidance_factor_is_sigma_over_one_minus_sigma_capped_at_pure_noise():
    v, grad = torch.zeros(3), torch.ones(3)
    assert torch.allclose(guided_velocity(v, grad, 0.5, scale=1.0, max_factor=10.0), -torch.ones(3))
    assert torch.allclose(guided_velocity(v, grad, 0.2, scale=2.0, max_factor=10.0), torch.full((3,), -0.5))
    assert torch.allclose(guided_velocity(v, grad, 1.0, scale=1.0, max_factor=7.0), torch.full((3,), -7.0))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("flow_nrg")
    base = make_tiny_wan(root / "tiny-wan")
    pairs = write_toy_pairs(root / "data", n_pairs=4, labels=None)
    with one_cpu_thread():
        result = train_latent_reward(LatentRewardTrainConfig(
            base_model_path=str(base), pairs_file=str(pairs), output_dir=str(root / "nrg"), num_blocks=1, lr=1e-3,
            batch_size=4, epochs=10, cache_dir=str(root / "cache"), gradient_checkpointing=False,
        ))
    return {"root": root, "base": base, "pairs": pairs, "result": result}


def test_latent_reward_model_trains_on_decided_dimensions_and_saves_a_folder(trained):
    result = trained["result"]
    assert result["dimensions"] == ["overall"]  # "vq" is all ties, "mq" unlabelled
    assert result["history"][-1]["loss"] < result["history"][0]["loss"]
    saved = json.loads((trained["root"] / "nrg" / "nrg_config.json").read_text())
    assert saved["dimensions"] == ["overall"] and saved["num_blocks"] == 1 and saved["pipeline_class"] == "WanPipeline"


def test_nrg_guidance_raises_the_latent_reward_of_samples_over_the_same_seeds_unguided(trained):
    flow = load_flow_pipeline(trained["base"])
    model = LatentRewardModel.load(trained["root"] / "nrg", flow).eval()
    text = flow.text_batch(flow.encode_prompts(["a textured wall, new take"] * 4))
    noise = torch.randn((4, *flow.latent_shape(9, 32, 32)), generator=torch.Generator().manual_seed(7))

    plain = sample_latents(flow, text, noise, steps=6)
    guided = sample_latents(flow, text, noise, steps=6,
                            correction=nrg_correction(model, {"overall": 1.0}, scale=3.0, max_factor=10.0))
    with torch.no_grad():
        reward_plain, reward_guided = (model(x, torch.zeros(4), text)[:, 0] for x in (plain, guided))
    assert (reward_guided > reward_plain).all()


def test_nrg_weights_must_name_the_models_dimensions(trained):
    flow = load_flow_pipeline(trained["base"])
    model = LatentRewardModel.load(trained["root"] / "nrg", flow)
    assert dimension_weights(model, None).tolist() == [1.0]
    with pytest.raises(ValueError, match=r"NRG weights name \['ta'\]"):
        dimension_weights(model, {"ta": 1.0})
    with pytest.raises(ValueError, match="not a latent reward model"):
        LatentRewardModel.load(trained["base"], flow)


def test_latent_reward_training_needs_decided_pairs(trained, tmp_path):
    ties = write_toy_pairs(tmp_path / "ties", n_pairs=2, labels={"vq": "tie", "mq": None})
    with pytest.raises(NoDecidedPairsError, match="no pair is decided"):
        train_latent_reward(LatentRewardTrainConfig(base_model_path=str(trained["base"]), pairs_file=str(ties),
                                                    output_dir=str(tmp_path / "nrg")))


def test_latent_reward_training_keeps_tied_pairs_under_btt(trained, tmp_path):
    # two pairs decided on "overall", two tied on it: Bradley–Terry with ties trains on all four
    decided = write_toy_pairs(tmp_path / "data", n_pairs=2, seed=1, name="decided.jsonl")
    ties = write_toy_pairs(tmp_path / "data", n_pairs=2, seed=2, name="ties.jsonl", labels={"overall": "tie"})
    both = tmp_path / "data" / "both.jsonl"
    both.write_text(decided.read_text() + ties.read_text())
    with one_cpu_thread():
        result = train_latent_reward(LatentRewardTrainConfig(
            base_model_path=str(trained["base"]), pairs_file=str(both), output_dir=str(tmp_path / "nrg"),
            num_blocks=1, batch_size=2, epochs=1, cache_dir=str(trained["root"] / "cache"),
            gradient_checkpointing=False,
        ))
    assert result["dimensions"] == ["overall"] and result["steps"] == 2  # 4 pairs in batches of 2
