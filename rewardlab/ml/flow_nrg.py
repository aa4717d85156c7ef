"""Flow-NRG (VideoAlign, arXiv 2501.13918, Eq. 10-11): reward guidance at sampling time, from noisy latents.

A latent reward model reads x_t directly: the first few blocks of the video transformer (copied, trainable)
and a small t-conditioned head with one output per dimension. It is trained with the Bradley–Terry loss on
preference pairs noised with the same noise and σ, so it can judge a video at every step of sampling.

Guidance. In diffusers' convention x_t = (1 - σ)·x0 + σ·ε, the velocity and the score s = ∇ log p_t are
related by v = -x/(1 - σ) - σ/(1 - σ)·s. Tilting p_t by exp(w·Σ_d λ_d r_d) adds w·∇r to the score, hence

    ṽ = v - w · σ/(1 - σ) · ∇_{x_t} Σ_d λ_d r_d(x_t, σ)

The sampler steps x ← x + (σ_next - σ)·ṽ with σ_next < σ, so the correction moves x by
+(σ - σ_next)·w·σ/(1 - σ)·∇r: up the reward. σ/(1 - σ) is infinite at σ = 1 (the first step), so it is
capped at ``max_factor``; the last step is left unguided (paper).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from rewardlab.ml.align import CachedExample, NoDecidedPairsError, batch_for_step, micro_batches
from rewardlab.ml.configs import LatentRewardTrainConfig
from rewardlab.ml.data import load_pairs
from rewardlab.ml.flow_matching import add_noise, sample_sigmas
from rewardlab.ml.latent_cache import latent_cache, load_latents, load_tensor
from rewardlab.ml.losses import A_WINS, B_WINS, MISSING, btt_loss, encode_labels
from rewardlab.ml.pipelines import FlowPipeline, load_flow_pipeline, read_pipeline_class

NRG_CONFIG = "nrg_config.json"


class RewardHead(nn.Module):
    """Pooled tokens, modulated by the time embedding, -> one reward per dimension."""

    def __init__(self, dim: int, num_outputs: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False)
        self.time_modulation = nn.Linear(dim, 2 * dim)
        nn.init.zeros_(self.time_modulation.weight)  # starts as plain pooling; learns how t changes the reading
        nn.init.zeros_(self.time_modulation.bias)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, num_outputs))

    def forward(self, tokens: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        pooled = self.norm(tokens.float()).mean(1)  # (B, D)
        scale, shift = self.time_modulation(nn.functional.silu(temb.float())).chunk(2, dim=-1)
        return self.mlp(pooled * (1 + scale) + shift)  # (B, num_dimensions)


class LatentRewardModel(nn.Module):
    def __init__(self, flow: FlowPipeline, backbone: nn.Module, dimensions: list[str]):
        super().__init__()
        self.backbone = backbone
        self.dimensions = list(dimensions)
        width = backbone.config.num_attention_heads * backbone.config.attention_head_dim
        self.head = RewardHead(width, len(self.dimensions)).to(flow.device)
        self._features = flow.reward_features

    def forward(self, x_t: torch.Tensor, sigma: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Rewards (B, num_dimensions) of noisy latents x_t at noise level σ (B,) for prompts text (B, L, D)."""
        tokens, temb = self._features(self.backbone, x_t, sigma, text)
        return self.head(tokens, temb)

    def save(self, directory: Path, *, base_model_path: str) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        self.backbone.save_pretrained(directory / "backbone")
        save_file({k: v.contiguous() for k, v in self.head.state_dict().items()}, str(directory / "head.safetensors"))
        (directory / NRG_CONFIG).write_text(json.dumps({
            "dimensions": self.dimensions, "num_blocks": len(self.backbone.blocks),
            "pipeline_class": read_pipeline_class(base_model_path), "base_model_path": str(base_model_path),
        }, indent=1))
        return directory

    @classmethod
    def load(cls, directory: str | Path, flow: FlowPipeline) -> LatentRewardModel:
        directory = Path(directory)
        if not (directory / NRG_CONFIG).is_file():
            raise ValueError(f"{directory} is not a latent reward model (no {NRG_CONFIG}); make one with train-nrg")
        meta = json.loads((directory / NRG_CONFIG).read_text())
        model = cls(flow, flow.load_reward_backbone(directory / "backbone"), meta["dimensions"])
        model.head.load_state_dict(load_file(str(directory / "head.safetensors")))
        return model


# -- training -------------------------------------------------------------------------------------------

def latent_reward_btt_step(
    model: LatentRewardModel, flow: FlowPipeline, batch: list[CachedExample], *, timestep_sampling: str,
    micro_batch_size: int, generator: torch.Generator,
) -> dict:
    """Accumulate the gradient of one batch under Bradley–Terry with ties, the VideoReward model's loss (VideoAlign
    §3.2), so tied pairs teach too: both videos of a pair get the same noise and σ."""
    loss, correct, decided = 0.0, 0, 0
    for chunk in micro_batches(batch, micro_batch_size):
        frames = chunk[0].shape[1]
        x_a = load_latents([e.videos[0] for e in chunk], frames)
        x_b = load_latents([e.videos[1] for e in chunk], frames)
        labels = torch.stack([e.labels for e in chunk]).to(flow.device)
        sigma = sample_sigmas(len(chunk), mode=timestep_sampling, generator=generator)
        noise = torch.randn(x_a.shape, generator=generator)
        text = flow.text_batch([load_tensor(e.text) for e in chunk])
        with torch.autocast(flow.device.type, dtype=torch.bfloat16, enabled=flow.device.type == "cuda"):
            r_a = model(add_noise(x_a, noise, sigma), sigma, text).float()
            r_b = model(add_noise(x_b, noise, sigma), sigma, text).float()
        chunk_loss = btt_loss(r_a, r_b, labels)
        (chunk_loss * len(chunk) / len(batch)).backward()
        loss += chunk_loss.item() * len(chunk) / len(batch)
        won = torch.where(labels == A_WINS, r_a > r_b, r_b > r_a)
        mask = (labels == A_WINS) | (labels == B_WINS)
        correct += (won & mask).sum().item()
        decided += mask.sum().item()
    return {"loss": loss, "accuracy": correct / max(decided, 1)}


def train_latent_reward(
    config: LatentRewardTrainConfig, *, progress: Callable[[dict], None] | None = None
) -> dict:
    """Train a latent reward model on preference pairs; saves a folder that ``LatentRewardModel.load`` reads."""
    pairs = load_pairs(config.pairs_file, video_root=config.video_root, split=config.split)
    dimensions = config.dimensions or sorted({d for p in pairs for d, v in p.labels.items() if v in ("A", "B")})
    labels = encode_labels([p.labels for p in pairs], dimensions)
    decided = ((labels == A_WINS) | (labels == B_WINS)).any(dim=1)
    labelled = (labels != MISSING).any(dim=1)  # ties train too (BTT); a pair with no label on these dimensions not
    if not dimensions or not decided.any():
        raise NoDecidedPairsError(
            f"{config.pairs_file}: no pair is decided on {dimensions or 'any dimension'}; the latent reward model "
            "needs A/B judgments (ties alone cannot order the videos)"
        )
    if progress:
        progress({"activity": "loading the generator"})
    flow = load_flow_pipeline(config.base_model_path, device=config.device, dtype=config.dtype)
    cache = latent_cache(config, flow)
    if progress:
        progress({"activity": "encoding latents and prompts (cached for later runs)"})
    kept = [(p, y) for p, y, keep in zip(pairs, labels, labelled, strict=True) if keep]
    prompts = [p.prompt for p, _ in kept]
    text = dict(zip(prompts, cache.prompt_files(prompts), strict=True))
    examples = []
    for p, y in kept:
        file_a, file_b, shape = cache.pair_files(p.path_a, p.path_b, name=f"pair {p.pair_id}")
        examples.append(CachedExample(text[p.prompt], (file_a, file_b), shape, labels=y))

    torch.manual_seed(config.seed)
    model = LatentRewardModel(flow, flow.make_reward_backbone(config.num_blocks), dimensions)
    if config.gradient_checkpointing:
        model.backbone.enable_gradient_checkpointing()
    flow.transformer.to("cpu")  # only the copied blocks work from here on
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total_steps = config.max_steps or config.epochs * math.ceil(len(examples) / config.batch_size)
    history = []
    if progress:
        progress({"activity": "training"})
    for step in range(total_steps):
        batch = batch_for_step(examples, step, config.batch_size, config.seed)
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
        metrics = latent_reward_btt_step(model, flow, batch, timestep_sampling=config.timestep_sampling,
                                        micro_batch_size=config.micro_batch_size, generator=generator)
        if not math.isfinite(metrics["loss"]):
            raise FloatingPointError(
                f"latent reward loss is {metrics['loss']} at step {step + 1}; lower lr (now {config.lr})"
            )
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        record = {"step": step + 1, "total_steps": total_steps, **metrics}
        history.append(record)
        if progress:
            progress(record)
    out = model.save(Path(config.output_dir), base_model_path=config.base_model_path)
    (out / "train_config.json").write_text(json.dumps(asdict(config), indent=1))
    result = {"output_dir": str(out), "dimensions": dimensions, "steps": total_steps, "history": history}
    (out / "metrics.json").write_text(json.dumps(result, indent=1))
    return result


# -- guidance -------------------------------------------------------------------------------------------

def reward_gradient(
    model: LatentRewardModel, x_t: torch.Tensor, sigma: torch.Tensor, text: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """∇_{x_t} Σ_d λ_d r_d(x_t, σ), summed over the batch (each sample's gradient is its own)."""
    with torch.enable_grad():
        x = x_t.detach().float().requires_grad_(True)
        rewards = model(x, sigma, text).float()
        (grad,) = torch.autograd.grad((rewards * weights.to(rewards.device)).sum(), x)
    return grad


def guided_velocity(
    v: torch.Tensor, grad: torch.Tensor, sigma: float, *, scale: float, max_factor: float
) -> torch.Tensor:
    """ṽ = v - w · σ/(1 - σ) · ∇r, the factor capped at ``max_factor`` (it is infinite at σ = 1)."""
    factor = max_factor if sigma >= 1 else min(sigma / (1 - sigma), max_factor)
    return v - scale * factor * grad.to(v.dtype)


def dimension_weights(model: LatentRewardModel, weights: dict[str, float] | None) -> torch.Tensor:
    """λ as a vector in the model's dimension order; unnamed dimensions get 0 (default: 1 for each)."""
    if not weights:
        return torch.ones(len(model.dimensions))
    unknown = set(weights) - set(model.dimensions)
    if unknown:
        raise ValueError(f"NRG weights name {sorted(unknown)}; the latent reward model has {model.dimensions}")
    return torch.tensor([float(weights.get(d, 0.0)) for d in model.dimensions])
