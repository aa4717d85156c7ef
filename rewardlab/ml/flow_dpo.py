"""Flow-DPO (VideoAlign, arXiv 2501.13918, Eq. 6) with a constant β.

For a preference pair (winner w, loser l) noised with the same noise and the same σ, and per-sample velocity
errors e = ||v - v(x_t, σ)||² of the policy θ and of the frozen reference:

    loss = -log sigmoid( -β/2 · ((e_θ,w - e_ref,w) - (e_θ,l - e_ref,l)) )

The policy is rewarded for lowering its error on the winner, relative to the reference, more than on the
loser. The paper found a timestep-dependent β_t reward-hacks, so β is one constant.

Why 500: it is the β the paper reports for its Flow-DPO runs (arXiv 2501.13918, the alignment experiments'
implementation details). It is a number from the paper only: VideoAlign's public code (KwaiVGI/VideoAlign)
releases the reward model and holds no Flow-DPO, so there is no code default to match. The scale is large
because e is a squared error of a velocity averaged per element, so the errors' differences are small.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class FlowDPOOutput:
    loss: torch.Tensor  # scalar, mean over pairs
    margin: torch.Tensor  # (B,) the logit: implicit reward of the winner minus the loser's
    implicit_acc: torch.Tensor  # scalar, fraction of pairs with margin > 0


def flow_dpo_loss(
    policy_err_w: torch.Tensor, policy_err_l: torch.Tensor, ref_err_w: torch.Tensor, ref_err_l: torch.Tensor,
    *, beta: float,
) -> FlowDPOOutput:
    """All errors are (B,) per-sample velocity MSEs; the reference ones carry no gradient."""
    margin = -beta / 2 * ((policy_err_w - ref_err_w) - (policy_err_l - ref_err_l))
    return FlowDPOOutput(
        loss=-F.logsigmoid(margin).mean(),
        margin=margin.detach(),
        implicit_acc=(margin.detach() > 0).float().mean(),
    )
