"""Rectified-flow video pipelines behind one small interface.

Alignment, Flow-NRG and generation only ever touch a ``FlowPipeline``: encode a video to normalised
latents, encode a prompt, predict the velocity v(x_t, σ, text), decode latents, and build the first blocks
of the transformer as a latent reward backbone. Wan 2.1 is ``pipelines/wan.py``; another diffusers flow
pipeline (LTX-Video, ...) is one more module with the same methods and one line in ``_ADAPTERS``.

Conventions (diffusers): σ in [0, 1], x_t = (1 - σ)·x0 + σ·noise, velocity v = noise - x0, σ = 1 is pure noise.
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from rewardlab.ml.pipeline_folders import SizeRules, UnsupportedPipelineError, read_pipeline_class


class VideoSizeError(ValueError):
    """A video's frame count or size does not fit the VAE / transformer patching."""


class FlowPipeline(Protocol):
    """What an adapter provides; it is built by ``Adapter.from_pretrained(path, device=..., dtype=...)``."""

    pipe: object  # the diffusers pipeline (``load_lora_weights``, ``save_lora_weights`` live on its class)
    transformer: nn.Module
    model_id: str  # fingerprint of the VAE + text encoder: the latent cache's key
    device: torch.device
    dtype: torch.dtype
    size_rules: SizeRules  # the same as pipeline_folders.size_rules(path)
    frame_multiple: int  # a video has k * frame_multiple + 1 frames
    pixel_multiple: int  # height and width are multiples of this
    lora_target_modules: list[str]

    def encode_video(self, pixels: torch.Tensor) -> torch.Tensor: ...  # (3,T,H,W) in [-1,1] -> (C,F,h,w)
    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor: ...  # (B,C,F,h,w) -> uint8 (B,T,H,W,3)
    def encode_prompts(self, prompts: list[str]) -> list[torch.Tensor]: ...  # each (L_i, D), unpadded
    def text_batch(self, embeds: list[torch.Tensor]) -> torch.Tensor: ...  # -> (B, L, D) as the pipeline pads
    def latent_shape(self, num_frames: int, height: int, width: int) -> tuple[int, ...]: ...
    def velocity(self, x_t: torch.Tensor, sigma: torch.Tensor, text: torch.Tensor) -> torch.Tensor: ...
    def make_reward_backbone(self, num_blocks: int) -> nn.Module: ...
    def load_reward_backbone(self, path: Path) -> nn.Module: ...
    def reward_features(
        self, backbone: nn.Module, x_t: torch.Tensor, sigma: torch.Tensor, text: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]: ...  # tokens (B,N,D), time embedding (B,D)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def component_fingerprint(root: Path, components: list[str]) -> str:
    """Hash of the components' configs and weight files (size + first and last MiB): cheap, changes with weights."""
    digest = hashlib.sha256()
    for name in components:
        for file in sorted((root / name).rglob("*")):
            if not file.is_file():
                continue
            digest.update(f"{file.relative_to(root)}:{file.stat().st_size}".encode())
            with file.open("rb") as f:
                digest.update(f.read(1 << 20))
                if file.stat().st_size > 2 << 20:
                    f.seek(-(1 << 20), 2)
                    digest.update(f.read())
    return digest.hexdigest()[:16]


# diffusers pipeline class name -> "module:class" of its adapter
_ADAPTERS = {"WanPipeline": "rewardlab.ml.pipelines.wan:WanFlowPipeline"}


def _adapter(path: str | Path) -> type:
    class_name = read_pipeline_class(path)
    if class_name not in _ADAPTERS:
        raise UnsupportedPipelineError(
            f"{path} holds a {class_name}; supported rectified-flow pipelines: {', '.join(sorted(_ADAPTERS))}"
        )
    module_name, adapter_name = _ADAPTERS[class_name].split(":")
    return getattr(importlib.import_module(module_name), adapter_name)


def load_flow_pipeline(path: str | Path, *, device: str = "auto", dtype: str = "auto") -> FlowPipeline:
    return _adapter(path).from_pretrained(Path(path), device=resolve_device(device), dtype=dtype)


