"""The rectified-flow training step, spelled out (diffusers conventions).

    σ ~ uniform(0, 1) or logit-normal          (σ = 1 is pure noise)
    x_t = (1 - σ)·x0 + σ·noise
    target v = noise - x0
    e = mean over elements of (v_θ(x_t, σ) - v)²    one number per sample
"""

from __future__ import annotations

import torch

from rewardlab.ml.configs import TIMESTEP_SAMPLING


def sample_sigmas(
    n: int, *, mode: str = "uniform", generator: torch.Generator | None = None,
    logit_mean: float = 0.0, logit_std: float = 1.0,
) -> torch.Tensor:
    """n noise levels σ in (0, 1), float32 on the CPU (the generator's device)."""
    if mode == "uniform":
        return torch.rand(n, generator=generator)
    if mode == "logit_normal":  # SD3's choice: more weight on the middle of the trajectory
        return torch.sigmoid(logit_mean + logit_std * torch.randn(n, generator=generator))
    raise ValueError(f"timestep sampling {mode!r}: use one of {TIMESTEP_SAMPLING}")


def _per_sample(sigma: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return sigma.to(like.device, like.dtype).view(-1, *([1] * (like.ndim - 1)))


def add_noise(x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    s = _per_sample(sigma, x0)
    return (1 - s) * x0 + s * noise


def velocity_target(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    return noise - x0


def per_sample_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, ...) x2 -> (B,): squared velocity error averaged over every element of a sample, in float32."""
    return (pred.float() - target.float()).pow(2).flatten(1).mean(1)
