"""Wan 2.1 text-to-video (diffusers ``WanPipeline``) as a ``FlowPipeline``.

Mirrors what ``WanPipeline.__call__`` does, so training, guided sampling and the stock pipeline agree:
latents are the VAE posterior normalised by the VAE's ``latents_mean`` / ``latents_std``; prompts are UMT5
embeddings zero-padded to 512 tokens; the transformer sees timestep = σ · num_train_timesteps.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import torch
from diffusers import WanPipeline, WanTransformer3DModel
from diffusers.pipelines.wan.pipeline_wan import prompt_clean
from torch import nn
from torch.utils.checkpoint import checkpoint

from rewardlab.ml.pipeline_folders import wan_size_rules
from rewardlab.ml.pipelines import component_fingerprint

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}  # the names train-reward takes
# The names before, still taken: old commands and stored run settings (an alignment run's "sampling") may use them.
_OLD_NAMES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    dtype = _OLD_NAMES.get(dtype, dtype)
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if dtype not in _DTYPES:
        raise ValueError(f"dtype {dtype!r}: use auto, {', '.join(_DTYPES)}")
    return _DTYPES[dtype]


class WanFlowPipeline:
    # Attention projections of self- and cross-attention in every block (the paper's LoRA placement).
    lora_target_modules = ["to_q", "to_k", "to_v", "to_out.0"]
    max_sequence_length = 512  # WanPipeline.__call__ pads prompts to this; training must see the same padding

    def __init__(self, pipe: WanPipeline, *, device: torch.device, model_id: str):
        self.pipe = pipe
        self.device = device
        self.transformer = pipe.transformer.to(device)
        self.dtype = self.transformer.dtype
        self.scheduler = pipe.scheduler
        self.model_id = model_id
        vae_config = pipe.vae.config
        self.latents_mean = torch.tensor(vae_config.latents_mean).view(-1, 1, 1, 1)
        self.latents_std = torch.tensor(vae_config.latents_std).view(-1, 1, 1, 1)
        self.size_rules = wan_size_rules(vae_config, self.transformer.config)
        self.frame_multiple = self.size_rules.frame_multiple
        self.pixel_multiple = self.size_rules.pixel_multiple
        self.num_train_timesteps = self.scheduler.config.num_train_timesteps

    @classmethod
    def from_pretrained(cls, path: Path, *, device: torch.device, dtype: str = "auto") -> WanFlowPipeline:
        torch_dtype = resolve_dtype(dtype, device)
        # Wan's VAE is numerically fragile in half precision; upstream runs it in float32 too.
        pipe = WanPipeline.from_pretrained(path, dtype={"vae": torch.float32, "default": torch_dtype})
        return cls(pipe, device=device, model_id=component_fingerprint(path, ["vae", "text_encoder", "tokenizer"]))

    @contextmanager
    def _on_device(self, module: nn.Module):
        """VAE and text encoder visit the accelerator only while they work (UMT5-XXL alone is 11 GB)."""
        module.to(self.device)
        try:
            yield
        finally:
            module.to("cpu")

    # -- videos ---------------------------------------------------------------------------------------
    def latent_shape(self, num_frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        spatial = self.pipe.vae_scale_factor_spatial
        return (
            self.transformer.config.in_channels,
            (num_frames - 1) // self.frame_multiple + 1,
            height // spatial,
            width // spatial,
        )

    @torch.no_grad()
    def encode_video(self, pixels: torch.Tensor) -> torch.Tensor:
        """(3, T, H, W) in [-1, 1] -> normalised latents (C, F, h, w), float32 on the CPU."""
        vae = self.pipe.vae
        with self._on_device(vae):
            posterior = vae.encode(pixels[None].to(self.device, torch.float32)).latent_dist
            z = posterior.mode()[0].cpu()  # the posterior mean: cached latents are deterministic
        return (z - self.latents_mean) / self.latents_std

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, C, F, h, w) normalised latents -> uint8 frames (B, T, H, W, 3)."""
        vae = self.pipe.vae
        z = latents.float().cpu() * self.latents_std + self.latents_mean
        with self._on_device(vae):
            video = torch.cat([vae.decode(z_i[None].to(self.device), return_dict=False)[0].cpu() for z_i in z])
        return ((video.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 4, 1)

    # -- prompts --------------------------------------------------------------------------------------
    @torch.no_grad()
    def encode_prompts(self, prompts: list[str]) -> list[torch.Tensor]:
        """UMT5 embeddings, one (L_i, D) float32 CPU tensor per prompt, without the zero padding."""
        with self._on_device(self.pipe.text_encoder):
            padded, _ = self.pipe.encode_prompt(
                prompts, do_classifier_free_guidance=False, max_sequence_length=self.max_sequence_length,
                device=self.device,
            )
        ids = self.pipe.tokenizer(
            [prompt_clean(p) for p in prompts], truncation=True, max_length=self.max_sequence_length,
            add_special_tokens=True,
        ).input_ids
        return [emb[: len(tokens)].float().cpu() for emb, tokens in zip(padded, ids, strict=True)]

    def text_batch(self, embeds: list[torch.Tensor]) -> torch.Tensor:
        """Zero-pad to ``max_sequence_length`` exactly as ``WanPipeline`` does -> (B, 512, D) on the device."""
        batch = torch.zeros(len(embeds), self.max_sequence_length, embeds[0].shape[-1])
        for i, emb in enumerate(embeds):
            batch[i, : emb.shape[0]] = emb
        return batch.to(self.device, self.dtype)

    # -- the velocity field ---------------------------------------------------------------------------
    def velocity(self, x_t: torch.Tensor, sigma: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """v_θ(x_t, σ, text) in float32; x_t (B, C, F, h, w), σ (B,), text (B, L, D)."""
        timestep = sigma.to(self.device, torch.float32) * self.num_train_timesteps
        v = self.transformer(
            hidden_states=x_t.to(self.device, self.dtype), timestep=timestep,
            encoder_hidden_states=text.to(self.device, self.dtype), return_dict=False,
        )[0]
        return v.float()

    # -- Flow-NRG: the first blocks of the transformer read noisy latents --------------------------------
    def make_reward_backbone(self, num_blocks: int) -> nn.Module:
        num_layers = self.transformer.config.num_layers
        if not 1 <= num_blocks <= num_layers:
            raise ValueError(f"num_blocks={num_blocks}: the base transformer has {num_layers} blocks")
        backbone = WanTransformer3DModel.from_config(self.transformer.config, num_layers=num_blocks)
        missing, _ = backbone.load_state_dict(self.transformer.state_dict(), strict=False)
        assert not missing, f"backbone weights not in the base transformer: {missing}"
        return backbone.to(self.device)  # float32: it trains

    def load_reward_backbone(self, path: Path) -> nn.Module:
        backbone = WanTransformer3DModel.from_pretrained(path).to(self.device)
        for key in ("in_channels", "text_dim", "patch_size"):
            if backbone.config[key] != self.transformer.config[key]:
                raise ValueError(
                    f"{path}: latent reward model was trained on another base ({key} {backbone.config[key]} "
                    f"!= {self.transformer.config[key]}); train one on this pipeline with train-nrg"
                )
        return backbone

    def reward_features(
        self, backbone: nn.Module, x_t: torch.Tensor, sigma: torch.Tensor, text: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``WanTransformer3DModel.forward`` up to the end of its blocks: tokens (B, N, D), t-embedding (B, D)."""
        dtype = next(backbone.parameters()).dtype
        x_t = x_t.to(self.device, dtype)
        rotary_emb = backbone.rope(x_t)
        tokens = backbone.patch_embedding(x_t).flatten(2).transpose(1, 2).contiguous()
        timestep = sigma.to(self.device, torch.float32) * self.num_train_timesteps
        temb, timestep_proj, text_h, _ = backbone.condition_embedder(timestep, text.to(self.device, dtype), None)
        timestep_proj = timestep_proj.unflatten(1, (6, -1))
        for block in backbone.blocks:
            if backbone.gradient_checkpointing and torch.is_grad_enabled():
                tokens = checkpoint(block, tokens, text_h, timestep_proj, rotary_emb, use_reentrant=False)
            else:
                tokens = block(tokens, text_h, timestep_proj, rotary_emb)
        return tokens, temb
