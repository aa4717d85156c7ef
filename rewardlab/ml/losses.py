"""Pairwise reward losses: Bradley–Terry, and Bradley–Terry with ties (Rao–Kupper), as in VideoAlign §3.2.

Inputs are rewards of the two videos of each pair, (B, D) for B pairs and D dimensions, and labels (B, D) in
the pair's canonical order: A_WINS, B_WINS, TIE or MISSING. Both losses are the mean over all B×D entries, the
entries they ignore counting as 0, as VideoAlign's trainer.py computes `(loss * mask).mean()`: a batch with
missing labels (or, for BT, ties) pulls less, rather than its labelled entries pulling harder.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

A_WINS, B_WINS, TIE, MISSING = 1, -1, 0, -100

LABEL_CODES = {"A": A_WINS, "B": B_WINS, "tie": TIE, None: MISSING}


def encode_labels(labels: list[dict[str, str | None]], dimensions: list[str]) -> torch.Tensor:
    """Per-pair label dicts ({"vq": "A", "ta": None, ...}) -> int64 codes (B, D); absent keys are MISSING."""
    return torch.tensor([[LABEL_CODES[row.get(d)] for d in dimensions] for row in labels], dtype=torch.long)


def _masked_mean(losses: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # where(), not a product: an ignored entry's loss may be inf without making the mean nan
    return torch.where(mask, losses, torch.zeros_like(losses)).mean()


def bt_loss(rewards_a: torch.Tensor, rewards_b: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Bradley–Terry: -log σ(r_chosen - r_rejected) on decided pairs; ties and missing labels are ignored."""
    diff = torch.where(labels == B_WINS, rewards_b - rewards_a, rewards_a - rewards_b)  # chosen - rejected
    decided = (labels == A_WINS) | (labels == B_WINS)
    return _masked_mean(-F.logsigmoid(diff), decided)


def btt_loss(rewards_a: torch.Tensor, rewards_b: torch.Tensor, labels: torch.Tensor,
             *, theta: float = 5.0) -> torch.Tensor:
    """Bradley–Terry with ties (Rao–Kupper), theta > 1.

    P(A > B) = σ(d - log θ),  P(tie) = (θ² - 1) σ(d - log θ) σ(-d - log θ),  with d = r_A - r_B.
    Decided pairs: -log σ(d - log θ) with d = r_chosen - r_rejected.
    Ties: -log σ(d - log θ) - log σ(-d - log θ) - log(θ² - 1).
    """
    if theta <= 1:
        raise ValueError(f"theta must be above 1 for ties to have a probability, got {theta}")
    log_theta = math.log(theta)
    d = rewards_a - rewards_b
    win = -F.logsigmoid(torch.where(labels == B_WINS, -d, d) - log_theta)
    tie = -F.logsigmoid(d - log_theta) - F.logsigmoid(-d - log_theta) - math.log(theta ** 2 - 1)
    losses = torch.where(labels == TIE, tie, win)
    return _masked_mean(losses, labels != MISSING)
