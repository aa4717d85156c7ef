"""Reward checkpoints on disk: our folder layout, and the released VideoReward layout.

Our folder (loadable with only itself and the base model):

    reward_config.json           RewardConfig: dimensions, base path + architecture, video settings, LoRA, norm
    adapter_config.json          PEFT LoRA config
    adapter_model.safetensors    LoRA weights
    reward_head.safetensors      head.weight (D, H) and reward_token_embeds (D, H)
    vision.safetensors           the vision tower, when it was trained in full
    tokenizer.json, tokenizer_config.json   the base tokenizer plus the reward tokens
    training_state.pt            optimiser, scheduler, step, RNG: only while a run can still resume

The released VideoReward folder (KwaiVGI/VideoReward) holds model_config.json and a full state dict
model.pth (or checkpoint-*/model.pth) with transformers-4.45 names under a PEFT wrapper:
base_model.model.model.* (language model), base_model.model.visual.*, base_model.model.rm_head.weight,
with LoRA either merged or as base_layer/lora_A/lora_B. We merge LoRA and rename to transformers-5 names.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import fields
from pathlib import Path

import torch
from peft import set_peft_model_state_dict
from peft.utils import get_peft_model_state_dict
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer, Qwen2VLForConditionalGeneration

from rewardlab.ml.folders import swap_in
from rewardlab.ml.reward_model import (
    RewardConfig,
    VideoRewardModel,
    add_reward_tokens,
    base_fingerprint,
    build_reward_model,
)
from rewardlab.ml.video import PatchSpec

CONFIG_FILE = "reward_config.json"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
HEAD_FILE = "reward_head.safetensors"
VISION_FILE = "vision.safetensors"
TOKENIZER_FILE = "tokenizer.json"
TRAINING_STATE_FILE = "training_state.pt"


# --- saving -----------------------------------------------------------------------------------------------------

def save_checkpoint(folder: str | Path, model: VideoRewardModel, tokenizer, config: RewardConfig,
                    *, training_state: dict | None = None) -> Path:
    """Write the checkpoint folder; written beside it first and swapped in, so a crash never leaves half of one."""
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".saving")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2))
    model.vlm.peft_config["default"].save_pretrained(tmp)
    adapter = {k: v.detach().float().cpu().contiguous() for k, v in get_peft_model_state_dict(model.vlm).items()}
    save_file(adapter, tmp / ADAPTER_FILES[1])
    save_file({"head.weight": model.head.weight.detach().float().cpu().contiguous(),
               "reward_token_embeds": model.reward_token_embeds.detach().float().cpu().contiguous()}, tmp / HEAD_FILE)
    if config.vision == "full":
        visual = model.qwen.visual.state_dict()
        save_file({k: v.detach().float().cpu().contiguous() for k, v in visual.items()}, tmp / VISION_FILE)
    tokenizer.save_pretrained(tmp)
    if training_state is not None:
        torch.save(training_state, tmp / TRAINING_STATE_FILE)
    return swap_in(tmp, folder)


# --- loading ours -----------------------------------------------------------------------------------------------

def read_reward_config(folder: str | Path) -> RewardConfig:
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such checkpoint folder")
    if not path.exists():
        raise FileNotFoundError(f"{folder}: not a reward checkpoint, {CONFIG_FILE} is missing")
    data = json.loads(path.read_text())
    unknown = set(data) - {f.name for f in fields(RewardConfig)}
    if unknown:
        raise ValueError(f"{path}: unknown fields {sorted(unknown)}")
    try:
        return RewardConfig(**data)
    except TypeError as e:
        raise ValueError(f"{path}: {e}") from e


def load_base(base_model_path: str | Path, config: RewardConfig | None = None):
    """The base Qwen2-VL and its patch spec; refuses a base whose architecture differs from the checkpoint's."""
    base = Path(base_model_path)
    if not (base / "config.json").exists():
        raise FileNotFoundError(f"{base}: not a model folder (config.json is missing); pass the base model path")
    vlm = Qwen2VLForConditionalGeneration.from_pretrained(base, dtype=torch.float32)
    if config is not None and config.base_config:
        found = base_fingerprint(vlm.config)
        for key, expected in config.base_config.items():
            if found.get(key) != expected:
                raise ValueError(f"{base}: base_config.{key} is {found.get(key)} but the checkpoint was trained on a "
                                 f"base with {expected}; pass the base model this checkpoint was trained from")
    return vlm, PatchSpec.from_pretrained(base)


def load_weights(model: VideoRewardModel, folder: str | Path, config: RewardConfig) -> None:
    """Put a checkpoint folder's trained weights (LoRA, head, reward tokens, vision tower) into `model`."""
    folder = Path(folder)
    result = set_peft_model_state_dict(model.vlm, load_file(folder / ADAPTER_FILES[1]))
    if result.unexpected_keys:
        raise ValueError(f"{folder / ADAPTER_FILES[1]}: keys that fit no LoRA layer: {result.unexpected_keys[:5]}")
    head = load_file(folder / HEAD_FILE)
    with torch.no_grad():
        model.head.weight.copy_(head["head.weight"])
        model.reward_token_embeds.copy_(head["reward_token_embeds"])
    if config.vision == "full":
        model.qwen.visual.load_state_dict(load_file(folder / VISION_FILE))


def load_checkpoint(folder: str | Path, *, base_model_path: str | Path | None = None,
                    device: str | torch.device = "cpu"):
    """(model, tokenizer, config, patch spec) from our folder; the base path defaults to the one recorded."""
    folder = Path(folder)
    config = read_reward_config(folder)
    required = [*ADAPTER_FILES, HEAD_FILE, TOKENIZER_FILE] + ([VISION_FILE] if config.vision == "full" else [])
    missing = [name for name in required if not (folder / name).exists()]
    if missing:
        raise FileNotFoundError(f"{folder}: checkpoint is missing {', '.join(missing)}")
    vlm, spec = load_base(base_model_path or config.base_model_path, config)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = build_reward_model(vlm, tokenizer, config)
    load_weights(model, folder, config)
    return model.to(device).eval(), tokenizer, config, spec


# --- loading the released VideoReward layout -------------------------------------------------------------------

def _videoalign_state_file(folder: Path) -> Path:
    if (folder / "model.pth").exists():
        return folder / "model.pth"
    steps = sorted(folder.glob("checkpoint-*/model.pth"), key=lambda p: int(re.sub(r"\D", "", p.parent.name) or 0))
    if not steps:
        raise FileNotFoundError(f"{folder}: no model.pth (nor checkpoint-*/model.pth) in the VideoReward folder")
    return steps[-1]


def _rename_445(key: str) -> str:
    """A transformers-4.45 Qwen2-VL key to its transformers-5 name (language model and vision tower moved)."""
    if key.startswith("visual."):
        return "model." + key
    if key.startswith("model."):
        return "model.language_model." + key[len("model."):]
    return key


def remap_videoalign_state_dict(state: dict[str, torch.Tensor], *, lora_r: int, lora_alpha: int
                                ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """A released VideoReward state dict -> (transformers-5 Qwen2-VL state dict with LoRA merged, head weight)."""
    state = {k.removeprefix("base_model.model."): v for k, v in state.items()}
    if "rm_head.weight" not in state:
        raise ValueError("VideoReward state dict has no rm_head.weight")
    head = state.pop("rm_head.weight")
    scale = lora_alpha / lora_r
    merged = {}
    for key, value in state.items():
        if ".lora_A." in key or ".lora_B." in key:
            continue
        if ".base_layer." in key:
            module, _, param = key.rpartition(".base_layer.")
            if param == "weight":
                lora_a, lora_b = state[f"{module}.lora_A.default.weight"], state[f"{module}.lora_B.default.weight"]
                value = value + scale * (lora_b.float() @ lora_a.float()).to(value.dtype)
            key = f"{module}.{param}"
        merged[_rename_445(key)] = value
    return merged, head


def load_videoalign_checkpoint(folder: str | Path, *, base_model_path: str | Path | None = None,
                               device: str | torch.device = "cpu"):
    """(model, tokenizer, config, patch spec) from a released VideoReward folder, on the Qwen2-VL base it names
    (or `base_model_path`). The reward tokens are added to the base tokenizer in the released order."""
    folder = Path(folder)
    meta = json.loads((folder / "model_config.json").read_text())
    data_cfg, model_cfg = meta.get("data_config", {}), meta.get("model_config", {})
    lora_cfg, norm_cfg = meta.get("peft_lora_config", {}), meta.get("inference_config") or {}
    dimensions = [d.lower() for d in data_cfg.get("eval_dim", ["VQ", "MQ", "TA"])]
    base_model_path = base_model_path or model_cfg.get("model_name_or_path")
    if not base_model_path:
        raise ValueError(f"{folder / 'model_config.json'}: no model_config.model_name_or_path; pass base_model_path")
    norm = {d: {"mean": norm_cfg[f"{d.upper()}_mean"], "std": norm_cfg[f"{d.upper()}_std"]}
            for d in dimensions if f"{d.upper()}_mean" in norm_cfg}
    vlm, spec = load_base(base_model_path)
    config = RewardConfig(
        dimensions=dimensions, base_model_path=str(base_model_path), base_config=base_fingerprint(vlm.config),
        fps=float(data_cfg.get("fps", 2.0)), max_pixels=int(data_cfg.get("max_frame_pixels", 448 * 448)),
        lora_r=int(lora_cfg.get("lora_r", 64)), lora_alpha=int(lora_cfg.get("lora_alpha", 128)),
        norm=norm or None,
    )
    tokenizer = AutoTokenizer.from_pretrained(base_model_path)
    reward_token_ids = add_reward_tokens(vlm, tokenizer, dimensions)
    weights, head = remap_videoalign_state_dict(torch.load(_videoalign_state_file(folder), map_location="cpu"),
                                                lora_r=config.lora_r, lora_alpha=config.lora_alpha)
    rows = weights["model.language_model.embed_tokens.weight"].shape[0]
    if rows != vlm.get_input_embeddings().weight.shape[0]:
        vlm.resize_token_embeddings(rows, mean_resizing=False)
    result = vlm.load_state_dict(weights, strict=False)
    missing = [k for k in result.missing_keys if k != "lm_head.weight"]
    if missing or result.unexpected_keys:
        raise ValueError(f"{folder}: the state dict does not fit {base_model_path}: "
                         f"missing {missing[:5]}, unexpected {result.unexpected_keys[:5]}")
    if head.shape != (len(dimensions), config.base_config["hidden_size"]):
        raise ValueError(f"{folder}: rm_head.weight is {tuple(head.shape)}, expected one row per dimension "
                         f"{dimensions} of size {config.base_config['hidden_size']}")
    model = VideoRewardModel(vlm, reward_token_ids)
    with torch.no_grad():
        model.head.weight.copy_(head)
    return model.to(device).eval(), tokenizer, config, spec


def load_any(folder: str | Path, *, base_model_path: str | Path | None = None, device: str | torch.device = "cpu"):
    """Our layout when reward_config.json is there, the released VideoReward layout when model_config.json is."""
    folder = Path(folder)
    if (folder / "model_config.json").exists() and not (folder / CONFIG_FILE).exists():
        return load_videoalign_checkpoint(folder, base_model_path=base_model_path, device=device)
    return load_checkpoint(folder, base_model_path=base_model_path, device=device)
