"""LoRA on the video transformer through peft, saved in the diffusers format.

The policy is the transformer with a LoRA adapter; the reference is the *same* network with the adapter
switched off (TRL's ``null_ref_context``), so Flow-DPO holds one copy of the 1.3B weights, not two.
Adapters are written with the pipeline class's ``save_lora_weights`` (with the peft config as metadata,
so ``lora_alpha`` survives), which is what ``pipe.load_lora_weights(dir)`` reads back.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import torch
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict
from safetensors.torch import load_file
from torch import nn

LORA_WEIGHTS = "pytorch_lora_weights.safetensors"


def add_lora(transformer: nn.Module, *, r: int, alpha: int, target_modules: list[str]) -> list[nn.Parameter]:
    """Freeze the transformer, inject a LoRA adapter, return its (float32) trainable parameters."""
    transformer.requires_grad_(False)
    transformer.add_adapter(LoraConfig(r=r, lora_alpha=alpha, target_modules=target_modules))
    params = [p for p in transformer.parameters() if p.requires_grad]
    for p in params:
        p.data = p.data.float()  # adapter weights train in float32 even when the base runs in bfloat16
    return params


@contextmanager
def reference_mode(transformer: nn.Module):
    """Inside: the frozen base model (adapter off). Outside: the policy."""
    transformer.disable_adapters()
    try:
        yield
    finally:
        transformer.enable_adapters()


def save_lora(pipeline_class: type, transformer: nn.Module, directory: str | Path) -> Path:
    directory = Path(directory)
    pipeline_class.save_lora_weights(
        directory,
        transformer_lora_layers=get_peft_model_state_dict(transformer),
        transformer_lora_adapter_metadata=transformer.peft_config["default"].to_dict(),
    )
    return directory


def load_lora_state(transformer: nn.Module, directory: str | Path) -> None:
    """Put saved adapter weights back into a transformer that already has the same adapter (resuming)."""
    prefix = "transformer."
    state = load_file(Path(directory) / LORA_WEIGHTS)
    state = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
    result = set_peft_model_state_dict(transformer, state)  # copies into the float32 adapter weights
    misfits = result.unexpected_keys + [k for k in result.missing_keys if "lora_" in k]
    if misfits:
        raise ValueError(f"{directory}: the adapter does not fit this transformer ({misfits[:3]} ...)")


def lora_parameters_are_finite(transformer: nn.Module) -> bool:
    return all(torch.isfinite(p).all() for p in transformer.parameters() if p.requires_grad)
