"""Flow-RWR (VideoAlign, arXiv 2501.13918, Eq. 9): reward-weighted flow matching.

Each video's flow-matching error is weighted by w = exp(r / τ) normalised over the batch, so the policy
imitates the videos the VideoReward likes most; τ → ∞ is plain flow matching, τ → 0 imitates the best one.
"""

from __future__ import annotations

import torch


def rwr_weights(rewards: torch.Tensor, tau: float) -> torch.Tensor:
    """(B,) rewards -> (B,) weights exp(r/τ) / Σ exp(r/τ) (a softmax, so large rewards cannot overflow)."""
    if tau <= 0:
        raise ValueError(f"rwr_tau must be > 0, got {tau}")
    return torch.softmax(rewards.float() / tau, dim=0)


def flow_rwr_loss(errors: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Σ_i w_i · e_i for per-sample velocity errors e (B,) and batch-normalised weights w (B,)."""
    return (weights.to(errors.device) * errors).sum()
