"""Qwen2-VL bases built from configs, with no downloads: a tiny one for tests and the demo, and the 2B shape.

`make_tiny_reward_base(path)` writes a folder that loads like Qwen/Qwen2-VL-2B-Instruct does
(config.json + model.safetensors, a Qwen2 byte-level BPE tokenizer with Qwen's special tokens, and
preprocessor_config.json), but with a few layers of width 64 and a tokenizer trained in memory on a small corpus.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers
from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration
from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX, Qwen2Tokenizer

from rewardlab.ml.video import IMAGE_MEAN, IMAGE_STD

# Qwen2-VL's own special tokens, in its order (ids 151643.. in the real vocabulary).
QWEN_SPECIAL_TOKENS = [
    "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>",
    "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>",
    "<|video_pad|>",
]

_CORPUS = [
    "You are a helpful assistant.",
    "Please watch the video and rate its visual quality: clarity, detail, colour, lighting and how reasonable it looks.",
    "Please rate the motion quality of the video: stability, smoothness, naturalness and amplitude of the motion.",
    "Please rate how well the video matches the text prompt: subject, motion, environment, style and camera.",
    "Please rate the overall quality of the video, considering everything above.",
    "The text prompt used to generate the video is:",
    "A cat walks on the beach at sunset, the camera follows a girl in a pink dress through the room.",
    "An astronaut runs across the surface of the moon; a red car drives along a mountain road in the rain.",
    "Noise, jitter, blur, flicker, colour bars, a moving square, a clean test pattern with numbers 0123456789.",
]


def make_tokenizer(vocab_size: int = 512) -> Qwen2Tokenizer:
    """A Qwen2 byte-level BPE tokenizer trained in memory, with Qwen2-VL's special tokens."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    bpe.train_from_iterator(_CORPUS * 4, trainer)
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    tokenizer = Qwen2Tokenizer(vocab=model["vocab"], merges=merges)
    tokenizer.add_tokens(QWEN_SPECIAL_TOKENS, special_tokens=True)
    return tokenizer


def _config(tokenizer, *, text: dict, vision: dict) -> Qwen2VLConfig:
    """A Qwen2-VL config with the given sizes, the patch layout of Qwen2-VL and the tokenizer's special ids."""
    ids = tokenizer.convert_tokens_to_ids
    return Qwen2VLConfig(
        text_config=text | {"rms_norm_eps": 1e-6, "bos_token_id": ids("<|endoftext|>"), "eos_token_id": ids("<|im_end|>")},
        vision_config=vision | {"patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2},
        tie_word_embeddings=True,
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"),
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
    )


def tiny_config(tokenizer) -> Qwen2VLConfig:
    """Qwen2-VL with 2 text layers of width 64 and a 2-block vision tower of width 32."""
    return _config(tokenizer, text={
        "vocab_size": len(tokenizer), "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 4096,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]},
    }, vision={"depth": 2, "embed_dim": 32, "hidden_size": 64, "num_heads": 2, "mlp_ratio": 2})


def qwen2_vl_2b_config(tokenizer) -> Qwen2VLConfig:
    """Qwen2-VL-2B-Instruct's architecture (its config.json), with special-token ids taken from `tokenizer`."""
    return _config(tokenizer, text={
        "vocab_size": 151936, "hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28,
        "num_attention_heads": 12, "num_key_value_heads": 2, "max_position_embeddings": 32768,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]},
    }, vision={"depth": 32, "embed_dim": 1280, "hidden_size": 1536, "num_heads": 16, "mlp_ratio": 4})


def write_preprocessor_config(path: str | Path) -> None:
    """The fields of Qwen2-VL's preprocessor_config.json that our video code reads (video.PatchSpec)."""
    config = {
        "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2VLProcessor",
        "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2,
        "image_mean": list(IMAGE_MEAN), "image_std": list(IMAGE_STD),
        "min_pixels": 56 * 56, "max_pixels": 28 * 28 * 1280,
    }
    (Path(path) / "preprocessor_config.json").write_text(json.dumps(config, indent=2))


def make_tiny_reward_base(path: str | Path, *, seed: int = 0) -> Path:
    """Save a tiny random Qwen2-VL, its tokenizer and preprocessor config into `path`; returns the path."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = make_tokenizer()
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(tiny_config(tokenizer))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    write_preprocessor_config(path)
    return path
