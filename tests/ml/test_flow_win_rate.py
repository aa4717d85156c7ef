"""Evaluating alignment with a VideoReward: win rates of aligned over base on tiny models, end to end."""

import json
from pathlib import Path

import pytest

from rewardlab.ml.align import AlignConfig, build_examples, run_alignment
from rewardlab.ml.reward_model import VideoRewardScorer
from rewardlab.ml.tiny_wan import make_tiny_wan
from rewardlab.ml.train_reward import RewardTrainConfig, train_reward
from rewardlab.ml.win_rate import (
    PROMPT_SETS,
    WinRateConfig,
    evaluate_alignment,
    read_prompts,
    win_rate_intervals,
    win_rates,
)
from tests.ml.flow_helpers import one_cpu_thread, write_toy_pairs


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_base):
    root = tmp_path_factory.mktemp("win_rate")
    base = make_tiny_wan(root / "tiny-wan")
    labels = {"overall": "A", "vq": "A", "mq": "A", "ta": "A"}  # every dimension decided, so the reward trains
    pairs = write_toy_pairs(root / "data", n_pairs=2, labels=labels)
    with one_cpu_thread():
        reward = train_reward(RewardTrainConfig(
            base_model_path=str(tiny_base), train_file=str(pairs), output_dir=str(root / "reward"), max_steps=1,
        ))["checkpoint"]
        adapter = run_alignment(AlignConfig(
            method="flow_dpo", base_model_path=str(base), pairs_file=str(pairs), output_dir=str(root / "dpo"),
            batch_size=2, micro_batch_size=2, lr=1e-2, lora_r=4, lora_alpha=8, cache_dir=str(root / "cache"),
        ))["adapter_dir"]
    return {"root": root, "base": base, "pairs": pairs, "reward": reward, "adapter": adapter}


def test_win_rate_counts_wins_and_half_ties_per_dimension():
    aligned = [{"vq": 1.0, "ta": 0.0}, {"vq": 0.0, "ta": 0.0}]
    base = [{"vq": 0.0, "ta": 1.0}, {"vq": 0.0, "ta": 0.0}]
    assert win_rates(aligned, base) == {"vq": 0.75, "ta": 0.25}


def test_the_papers_prompt_sets_ship_with_the_package_and_read_by_name():
    sizes = {name: len(read_prompts(name)) for name in PROMPT_SETS}
    assert sizes == {"TA_hard": 72, "vbench": 946, "videogen_eval": 400}
    assert read_prompts("TA_hard")[0].startswith("A cat and a dog baking a cake together")


@pytest.mark.slow  # the module's world trains a reward model and a Flow-DPO adapter
def test_aligned_and_base_videos_are_scored_and_saved_as_a_new_annotation_round(world, tmp_path):
    result = evaluate_alignment(WinRateConfig(
        base_model_path=str(world["base"]), reward_checkpoint=str(world["reward"]), output_dir=str(tmp_path),
        adapter_dir=world["adapter"], prompts_file="TA_hard", max_prompts=2,
        seeds=[0, 1], num_frames=5, height=32, width=32, steps=2, guidance_scale=1.0,
    ))
    assert result["n"] == 4  # 2 prompts x 2 seeds
    assert set(result["win_rate"]) == {"vq", "mq", "ta", "overall"}
    assert all(r * 8 == int(r * 8) and 0 <= r <= 1 for r in result["win_rate"].values())  # (wins + ties/2) / 4

    rows = [json.loads(line) for line in Path(result["videos_manifest"]).read_text().splitlines()]
    assert len(rows) == 8 and {r["model"] for r in rows} == {"base", "aligned"}
    assert {(r["prompt"], r["seed"]) for r in rows if r["model"] == "base"} == \
        {(r["prompt"], r["seed"]) for r in rows if r["model"] == "aligned"}
    assert all((tmp_path / r["video"]).is_file() and not Path(r["video"]).is_absolute() for r in rows)
    by_model = {m: [r["meta"]["reward_scores"] for r in rows if r["model"] == m] for m in ("aligned", "base")}
    assert win_rates(by_model["aligned"], by_model["base"]) == result["win_rate"]
    prompts = [r["prompt"] for r in rows if r["model"] == "aligned"]
    assert result["ci95"] == win_rate_intervals(by_model["aligned"], by_model["base"], prompts)
    assert all(low <= result["win_rate"][d] <= high for d, (low, high) in result["ci95"].items())


@pytest.mark.slow  # the module's world trains a reward model and a Flow-DPO adapter
def test_win_rate_needs_something_to_compare(world, tmp_path):
    with pytest.raises(ValueError, match="nothing to compare"):
        evaluate_alignment(WinRateConfig(base_model_path=str(world["base"]), reward_checkpoint=str(world["reward"]),
                                         output_dir=str(tmp_path), prompts=["x"]))


@pytest.mark.slow  # the module's world trains a reward model and a Flow-DPO adapter
def test_pairs_relabelled_by_the_videoreward_follow_its_weighted_scores(world, tmp_path):
    weights = {"vq": 1.0, "mq": 0.5}
    config = AlignConfig(method="flow_dpo", base_model_path=str(world["base"]), pairs_file=str(world["pairs"]),
                         output_dir=str(tmp_path), weights=weights, reward_checkpoint=str(world["reward"]),
                         relabel=True)
    scorer = VideoRewardScorer.from_checkpoint(world["reward"], device="cpu")

    def score(example, video):
        scores = scorer.score(example.prompt, video)
        return sum(w * scores[d] for d, w in weights.items())

    for example in build_examples(config):
        assert score(example, example.winner) > score(example, example.loser)


@pytest.mark.slow  # the module's world trains a reward model and a Flow-DPO adapter
def test_flow_rwr_takes_its_rewards_from_a_videoreward(world, tmp_path):
    result = run_alignment(AlignConfig(
        method="flow_rwr", base_model_path=str(world["base"]), pairs_file=str(world["pairs"]),
        output_dir=str(tmp_path), reward_checkpoint=str(world["reward"]), dimension="overall", batch_size=4,
        micro_batch_size=4, lora_r=4, lora_alpha=8, cache_dir=str(world["root"] / "cache"),
    ))
    assert result["num_examples"] == 4 and result["steps"] == 1
    assert result["latent_cache"]["misses"] == 0  # the DPO run in the fixture already encoded these videos
