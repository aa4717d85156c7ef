"""Checkpoint folders: save -> load gives the same scores; bad folders fail clearly; the released layout loads."""

import json
import shutil

import pytest
import torch
from transformers import AutoTokenizer, Qwen2VLConfig, Qwen2VLForConditionalGeneration

from rewardlab.ml.checkpoint import load_base, save_checkpoint
from rewardlab.ml.reward_model import (
    RewardConfig,
    VideoRewardScorer,
    add_reward_tokens,
    base_fingerprint,
    build_reward_model,
)
from tests.ml.conftest import ffmpeg_clip

PROMPT = "a colourful test pattern with a moving counter"


def randomise_(model, names=("lora_B", "head", "reward_token_embeds")):
    """LoRA B starts at zero and the head at random: make every trained part matter to the scores."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if any(n in name for n in names):
                param.normal_(0, 0.5, generator=torch.Generator().manual_seed(len(name)))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return ffmpeg_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", frames=8)


@pytest.fixture(scope="module")
def trained(tiny_base, tmp_path_factory, clip):
    """A reward model with non-trivial weights, saved; and the scores it gives before saving."""
    vlm, spec = load_base(tiny_base)
    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    config = RewardConfig(dimensions=["vq", "mq", "ta"], base_model_path=str(tiny_base),
                          base_config=base_fingerprint(vlm.config), max_pixels=56 * 56, min_pixels=56 * 56,
                          lora_r=4, lora_alpha=8,
                          norm={"vq": {"mean": 0.5, "std": 2.0}, "mq": {"mean": 0.0, "std": 1.0},
                                "ta": {"mean": -1.0, "std": 0.5}})
    model = build_reward_model(vlm, tokenizer, config)
    randomise_(model)
    with torch.no_grad():
        model.qwen.visual.merger.mlp[2].weight.mul_(3)  # the vision tower is saved in full
    folder = save_checkpoint(tmp_path_factory.mktemp("ckpt") / "checkpoint", model, tokenizer, config)
    scores = VideoRewardScorer(model, tokenizer, config, spec=spec).score(PROMPT, clip)
    return folder, scores


def test_saved_checkpoint_scores_like_the_model_it_came_from(trained, clip):
    folder, scores = trained
    scorer = VideoRewardScorer.from_checkpoint(folder, device="cpu")  # base path read from reward_config.json
    loaded = scorer.score(PROMPT, clip)
    assert scorer.dimensions == ["vq", "mq", "ta"]
    assert set(loaded) == {"vq", "mq", "ta", "overall"}
    for key in loaded:
        assert loaded[key] == pytest.approx(scores[key], abs=1e-5)


def test_scores_are_normalised_and_overall_is_their_sum(trained, clip):
    folder, _ = trained
    scorer = VideoRewardScorer.from_checkpoint(folder, device="cpu")
    raw = scorer.score(PROMPT, clip, normalize=False)
    scores = scorer.score(PROMPT, clip)
    assert scores["vq"] == pytest.approx((raw["vq"] - 0.5) / 2.0, abs=1e-5)
    assert scores["ta"] == pytest.approx((raw["ta"] + 1.0) / 0.5, abs=1e-5)
    assert scores["overall"] == pytest.approx(scores["vq"] + scores["mq"] + scores["ta"], abs=1e-5)
    assert raw["overall"] == pytest.approx(raw["vq"] + raw["mq"] + raw["ta"], abs=1e-5)


def test_a_checkpoint_from_before_the_mode_fields_is_read_in_its_own_mode(trained, tmp_path, clip):
    folder, _ = trained
    old = shutil.copytree(folder, tmp_path / "old")
    data = json.loads((old / "reward_config.json").read_text())
    for key in ("positions", "resize", "overall"):
        del data[key]
    (old / "reward_config.json").write_text(json.dumps(data))
    scorer = VideoRewardScorer.from_checkpoint(old, device="cpu")
    assert (scorer.config.mode, scorer.model.positions) == ("vidpref-v1", "mrope")
    scores = scorer.score(PROMPT, clip)
    assert scores["overall"] == pytest.approx((scores["vq"] + scores["mq"] + scores["ta"]) / 3, abs=1e-5)


def test_checkpoint_keeps_the_reward_tokens_in_its_tokenizer(trained):
    folder, _ = trained
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = tokenizer.convert_tokens_to_ids(["<|VQ_reward|>", "<|MQ_reward|>", "<|TA_reward|>"])
    assert len(set(ids)) == 3 and tokenizer.unk_token_id not in ids


def test_missing_files_are_named(trained, tmp_path):
    folder, _ = trained
    broken = shutil.copytree(folder, tmp_path / "broken")
    (broken / "reward_head.safetensors").unlink()
    (broken / "vision.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="reward_head.safetensors, vision.safetensors"):
        VideoRewardScorer.from_checkpoint(broken, device="cpu")
    (broken / "reward_config.json").unlink()
    with pytest.raises(FileNotFoundError, match="reward_config.json"):
        VideoRewardScorer.from_checkpoint(broken, device="cpu")


def test_a_different_base_is_refused_by_field(trained, tiny_base, tmp_path):
    folder, _ = trained
    config = Qwen2VLConfig.from_pretrained(tiny_base)
    config.vision_config.depth = 3
    other = tmp_path / "other_base"
    Qwen2VLForConditionalGeneration(config).save_pretrained(other)
    AutoTokenizer.from_pretrained(tiny_base).save_pretrained(other)
    with pytest.raises(ValueError, match="vision_depth is 3"):
        VideoRewardScorer.from_checkpoint(folder, base_model_path=other, device="cpu")


def test_a_save_cut_short_between_its_renames_leaves_the_previous_checkpoint(tmp_path):
    from rewardlab.ml.folders import recover_folder

    folder = tmp_path / "checkpoint"
    old = tmp_path / "checkpoint.old"
    old.mkdir()
    (old / "reward_config.json").write_text("{}")
    assert recover_folder(folder) == folder
    assert (folder / "reward_config.json").read_text() == "{}" and not old.exists()


def test_reward_tokens_start_from_the_unused_rows_the_table_already_has(tiny_base):
    # Qwen2-VL's embedding table is longer than its tokenizer; VideoAlign's reward tokens take those rows as they are
    config = Qwen2VLConfig.from_pretrained(tiny_base)
    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    config.text_config.vocab_size = len(tokenizer) + 2  # room for two of the three tokens
    torch.manual_seed(0)
    vlm = Qwen2VLForConditionalGeneration(config)
    before = vlm.get_input_embeddings().weight.detach().clone()
    ids = add_reward_tokens(vlm, tokenizer, ["vq", "mq", "ta"])
    table = vlm.get_input_embeddings().weight
    assert ids == [len(tokenizer) - 3, len(tokenizer) - 2, len(tokenizer) - 1]
    assert torch.equal(table[ids[:2]], before[ids[:2]])
    assert torch.allclose(table[ids[2]], before[:ids[0]].mean(dim=0))  # past the table: the vocabulary's mean
