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
checkpoint-N/model.pth (the highest N is read; or model.pth itself) with transformers-4.45 names under a PEFT wrapper:
base_model.model.model.* (language model), base_model.model.visual.*, base_model.model.rm_head.weight,
with LoRA either merged or as base_layer/lora_A/lora_B. We merge LoRA and rename to transformers-5 names.
"""

from __future__ import annotations

import json
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
    LEGACY_MODE,
    MODES,
    VIDEOALIGN_DIMENSIONS,
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
        return RewardConfig(**(LEGACY_MODE | data))  # written before the mode fields: trained in the legacy mode
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
    """The model.pth VideoAlign's load_model_from_checkpoint reads: checkpoint-N with the highest N (a number, so
    checkpoint-1000 beats checkpoint-999); a model.pth in the folder itself when it has no checkpoint-N."""
    steps = {int(p.name.removeprefix("checkpoint-")): p for p in folder.glob("checkpoint-*")
             if p.is_dir() and p.name.removeprefix("checkpoint-").isdigit()}
    if steps:
        latest = steps[max(steps)]
        if not (latest / "model.pth").exists():
            raise FileNotFoundError(f"{latest}: no model.pth; only the full-state-dict layout (save_full_model) "
                                    "is supported, not adapter_model.safetensors + non_lora_state_dict.pth")
        return latest / "model.pth"
    if (folder / "model.pth").exists():
        return folder / "model.pth"
    raise FileNotFoundError(f"{folder}: no checkpoint-N/model.pth (nor model.pth) in the VideoReward folder")


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


def _released_config(folder: Path, meta: dict, base_model_path: str | Path | None) -> RewardConfig:
    """The RewardConfig of a released folder's model_config.json: VideoAlign mode, the template it names."""
    path = folder / "model_config.json"
    data_cfg, model_cfg = meta.get("data_config", {}), meta.get("model_config", {})
    lora_cfg, norm_cfg = meta.get("peft_lora_config", {}), meta.get("inference_config") or {}
    # inference.py reads rewards 0, 1, 2 as VQ, MQ, TA and normalises exactly those
    eval_dim = data_cfg.get("eval_dim", ["VQ", "MQ", "TA"])
    if [d.lower() for d in ([eval_dim] if isinstance(eval_dim, str) else eval_dim)] != list(VIDEOALIGN_DIMENSIONS):
        raise ValueError(f"{path}: data_config.eval_dim is {eval_dim}; VideoAlign's inference scores VQ, MQ, TA")
    if model_cfg.get("reward_token", "special") != "special" or model_cfg.get("use_special_tokens") is False:
        raise ValueError(f"{path}: only reward_token 'special' with use_special_tokens (the released model) is "
                         f"supported, not {model_cfg.get('reward_token')!r}")
    if data_cfg.get("prompt_template_type", "detailed_special") != "detailed_special":
        raise ValueError(f"{path}: prompt_template_type {data_cfg['prompt_template_type']!r} has no reward tokens; "
                         "only 'detailed_special' is supported")
    if lora_cfg.get("use_rslora"):  # LoRA is merged at alpha / r; rsLoRA scales by alpha / sqrt(r)
        raise ValueError(f"{path}: peft_lora_config.use_rslora is not supported")
    if data_cfg.get("sample_type", "uniform") != "uniform":
        raise ValueError(f"{path}: sample_type {data_cfg['sample_type']!r} is not supported, only 'uniform'")
    base_model_path = base_model_path or model_cfg.get("model_name_or_path")
    if not base_model_path:
        raise ValueError(f"{path}: no model_config.model_name_or_path; pass base_model_path")
    dimensions = list(VIDEOALIGN_DIMENSIONS)
    norm = {d: {"mean": float(norm_cfg[f"{d.upper()}_mean"]), "std": float(norm_cfg[f"{d.upper()}_std"])}
            for d in dimensions if f"{d.upper()}_mean" in norm_cfg}
    num_frames = data_cfg.get("num_frames")
    return RewardConfig(
        dimensions=dimensions, base_model_path=str(base_model_path),
        fps=float(data_cfg.get("fps", 2.0)), max_pixels=int(data_cfg.get("max_frame_pixels", 240 * 320)),
        num_frames=None if num_frames is None else int(num_frames),
        lora_r=int(lora_cfg.get("lora_r", 16)), lora_alpha=int(lora_cfg.get("lora_alpha", 32)),
        norm=norm or None, **MODES["videoalign"],
    )


def load_videoalign_checkpoint(folder: str | Path, *, base_model_path: str | Path | None = None,
                               device: str | torch.device = "cpu"):
    """(model, tokenizer, config, patch spec) from a released VideoReward folder, on the Qwen2-VL base it names
    (or `base_model_path`), always in VideoAlign mode. The reward tokens are added to the base tokenizer in the
    released order. The head is rm_head: with output_dim 3 reward d reads row d (VideoAlign takes the diagonal),
    with output_dim 1 every reward reads the one row, so the model gets that row once per dimension."""
    folder = Path(folder)
    meta = json.loads((folder / "model_config.json").read_text())
    config = _released_config(folder, meta, base_model_path)
    vlm, spec = load_base(config.base_model_path)
    config.base_config = base_fingerprint(vlm.config)
    tokenizer = AutoTokenizer.from_pretrained(config.base_model_path)
    reward_token_ids = add_reward_tokens(vlm, tokenizer, config.dimensions)
    weights, head = remap_videoalign_state_dict(torch.load(_videoalign_state_file(folder), map_location="cpu"),
                                                lora_r=config.lora_r, lora_alpha=config.lora_alpha)
    rows = weights["model.language_model.embed_tokens.weight"].shape[0]
    if rows != vlm.get_input_embeddings().weight.shape[0]:
        vlm.resize_token_embeddings(rows, mean_resizing=False)
    result = vlm.load_state_dict(weights, strict=False)
    missing = [k for k in result.missing_keys if k != "lm_head.weight"]
    if missing or result.unexpected_keys:
        raise ValueError(f"{folder}: the state dict does not fit {config.base_model_path}: "
                         f"missing {missing[:5]}, unexpected {result.unexpected_keys[:5]}")
    hidden, n_dims = config.base_config["hidden_size"], len(config.dimensions)
    output_dim = meta.get("model_config", {}).get("output_dim", head.shape[0])
    if head.shape not in ((1, hidden), (n_dims, hidden)) or head.shape[0] != output_dim:
        raise ValueError(f"{folder}: rm_head.weight is {tuple(head.shape)} with output_dim {output_dim}; expected "
                         f"output_dim 1 or {n_dims} rows of size {hidden}")
    model = VideoRewardModel(vlm, reward_token_ids, positions=config.positions)
    with torch.no_grad():
        model.head.weight.copy_(head.expand(n_dims, hidden))
    return model.to(device).eval(), tokenizer, config, spec


def _is_released(folder: Path) -> bool:
    return (folder / "model_config.json").exists() and not (folder / CONFIG_FILE).exists()


def read_any_config(folder: str | Path) -> RewardConfig:
    """The RewardConfig of either layout, without loading weights (what a checkpoint's page shows)."""
    folder = Path(folder)
    if _is_released(folder):
        meta = json.loads((folder / "model_config.json").read_text())
        return _released_config(folder, meta, meta.get("model_config", {}).get("model_name_or_path") or "?")
    return read_reward_config(folder)


def load_any(folder: str | Path, *, base_model_path: str | Path | None = None, device: str | torch.device = "cpu"):
    """Our layout when reward_config.json is there, the released VideoReward layout when model_config.json is."""
    folder = Path(folder)
    if _is_released(folder):
        return load_videoalign_checkpoint(folder, base_model_path=base_model_path, device=device)
    return load_checkpoint(folder, base_model_path=base_model_path, device=device)
