"""A tiny Wan text-to-video pipeline built from configs, for tests, benches and the offline demo.

Same classes as Wan 2.1 T2V (``WanTransformer3DModel``, ``AutoencoderKLWan``, ``UMT5EncoderModel``,
``FlowMatchEulerDiscreteScheduler``), a few thousand parameters each, random weights. The tokenizer is a
byte-level vocabulary built in memory (no hub download), so any prompt tokenizes. Saved with
``save_pretrained`` and loadable with ``WanPipeline.from_pretrained``; a 32x32, 9-frame video costs ~0.1 s.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast, UMT5Config, UMT5EncoderModel

TEXT_DIM = 32
LATENT_CHANNELS = 4


def make_byte_tokenizer(max_length: int = 512) -> PreTrainedTokenizerFast:
    """One token per byte plus ``<pad>``, ``</s>``, ``<unk>``; appends ``</s>`` like the T5 tokenizers."""
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for char in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[char] = len(vocab)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=max_length
    )


def make_tiny_wan_pipeline(seed: int = 0, num_layers: int = 2) -> WanPipeline:
    torch.manual_seed(seed)
    tokenizer = make_byte_tokenizer()
    text_encoder = UMT5EncoderModel(UMT5Config(
        vocab_size=len(tokenizer), d_model=TEXT_DIM, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, relative_attention_max_distance=16,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    ))
    vae = AutoencoderKLWan(
        base_dim=8, z_dim=LATENT_CHANNELS, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
        temperal_downsample=[False, True, True],
        latents_mean=[0.1, -0.1, 0.0, 0.2], latents_std=[0.5, 0.8, 1.0, 1.2],  # not 0/1, so normalisation is exercised
    )
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS, text_dim=TEXT_DIM, freq_dim=32, ffn_dim=32, num_layers=num_layers,
        rope_max_seq_len=32,
    )
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    return WanPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer, scheduler=scheduler
    )


def make_tiny_wan(path: str | Path, *, seed: int = 0, num_layers: int = 2) -> Path:
    """Build and save a tiny WanPipeline at ``path``; returns the path."""
    path = Path(path)
    make_tiny_wan_pipeline(seed=seed, num_layers=num_layers).save_pretrained(path)
    return path
