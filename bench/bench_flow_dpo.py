"""What Flow-DPO costs, and what the latent cache saves.

1. One Flow-DPO step vs one plain flow-matching step on the same batch (winners and losers, same LoRA,
   same optimiser). DPO adds the reference forward passes (adapter off, no grad), so its floor is
   (policy fwd+bwd + reference fwd) / (policy fwd+bwd); the reference forward alone is timed too.
2. Latent cache: getting a video's latents on a miss (decode + VAE encode + write) vs a hit (sha256 + read).
3. With --full-size: a Wan2.1-T2V-1.3B-size transformer (random weights, bfloat16 on CUDA) with LoRA r 64
   and gradient checkpointing on 81 x 480 x 832 videos: DPO pairs/s and peak GPU memory.

    .venv/bin/python bench/bench_flow_dpo.py                         # CPU, tiny Wan, ~10 s
    python bench/bench_flow_dpo.py --device cuda --full-size         # GPU, 1.3B-size
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel
from safetensors.torch import save_file

from rewardlab.ml.align import AlignConfig, CachedExample, dpo_step, pair_batch
from rewardlab.ml.flow_matching import add_noise, per_sample_mse, sample_sigmas, velocity_target
from rewardlab.ml.generate import write_video
from rewardlab.ml.latent_cache import FrameSpec, LatentCache
from rewardlab.ml.lora import add_lora, reference_mode
from rewardlab.ml.pipelines.wan import WanFlowPipeline, resolve_dtype
from rewardlab.ml.tiny_wan import make_byte_tokenizer, make_tiny_wan_pipeline

# Wan-AI/Wan2.1-T2V-1.3B-Diffusers transformer/config.json
WAN_1_3B = dict(
    patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
    text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
    eps=1e-6, rope_max_seq_len=1024,
)


def build_flow(full_size: bool, device: torch.device) -> WanFlowPipeline:
    if not full_size:
        return WanFlowPipeline(make_tiny_wan_pipeline(), device=device, model_id="bench-tiny")
    transformer = WanTransformer3DModel(**WAN_1_3B).to(resolve_dtype("auto", device))
    for name, param in transformer.named_parameters():  # as from_pretrained(torch_dtype=bf16) leaves them
        if any(keep in name for keep in transformer._keep_in_fp32_modules):
            param.data = param.data.float()
    tiny = make_tiny_wan_pipeline()  # its text encoder stands in: the bench feeds random 4096-d text embeddings
    pipe = WanPipeline(
        tokenizer=make_byte_tokenizer(), text_encoder=tiny.text_encoder, vae=AutoencoderKLWan(),
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
    )
    return WanFlowPipeline(pipe, device=device, model_id="bench-1.3b")


def random_batch(flow: WanFlowPipeline, root: Path, args) -> list[CachedExample]:
    """Cached-latent examples as run_alignment builds them, from random latents and text embeddings."""
    shape = flow.latent_shape(args.frames, args.height, args.width)
    examples = []
    for i in range(args.pairs):
        tensors = {"winner": torch.randn(shape), "loser": torch.randn(shape),
                   "text": torch.randn(120, flow.transformer.config.text_dim)}
        files = {name: root / f"{name}{i}.safetensors" for name in tensors}
        for name, tensor in tensors.items():
            save_file({"value": tensor}, str(files[name]))
        examples.append(CachedExample(files["text"], (files["winner"], files["loser"]), shape))
    return examples


def flow_matching_step(flow: WanFlowPipeline, batch: list[CachedExample], generator: torch.Generator) -> None:
    """Plain flow matching on the batch's winners and losers: the baseline DPO is compared against."""
    x0, text = pair_batch(flow, batch)
    sigma = sample_sigmas(len(x0), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    x0, noise, sigma = x0.to(flow.device), noise.to(flow.device), sigma.to(flow.device)
    errors = per_sample_mse(flow.velocity(add_noise(x0, noise, sigma), sigma, text), velocity_target(x0, noise))
    errors.mean().backward()


def reference_forward(flow: WanFlowPipeline, batch: list[CachedExample], generator: torch.Generator) -> None:
    x0, text = pair_batch(flow, batch)
    with torch.no_grad(), reference_mode(flow.transformer):
        flow.velocity(x0.to(flow.device), sample_sigmas(len(x0), generator=generator).to(flow.device), text)


def timed(step, flow: WanFlowPipeline, optimizer, reps: int, warmup: int) -> float:
    """Seconds per call of ``step()`` followed by an optimiser step (when it made gradients)."""
    def one():
        step()
        if any(p.grad is not None for g in optimizer.param_groups for p in g["params"]):
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    for _ in range(warmup):
        one()
    if flow.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(reps):
        one()
    if flow.device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / reps


def bench_steps(flow: WanFlowPipeline, args, root: Path) -> None:
    params = add_lora(flow.transformer, r=args.lora_r, alpha=2 * args.lora_r, target_modules=flow.lora_target_modules)
    if args.gradient_checkpointing:
        flow.transformer.enable_gradient_checkpointing()
    optimizer = torch.optim.AdamW(params, lr=5e-6)
    batch = random_batch(flow, root, args)
    config = AlignConfig(method="flow_dpo", base_model_path="-", pairs_file="-", output_dir="-",
                         batch_size=args.pairs, micro_batch_size=args.pairs)
    g = torch.Generator().manual_seed(0)
    t_fm = timed(lambda: flow_matching_step(flow, batch, g), flow, optimizer, args.reps, args.warmup)
    t_ref = timed(lambda: reference_forward(flow, batch, g), flow, optimizer, args.reps, args.warmup)
    if flow.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t_dpo = timed(lambda: dpo_step(flow, batch, config, g), flow, optimizer, args.reps, args.warmup)
    tokens = flow.latent_shape(args.frames, args.height, args.width)
    print(f"transformer: {sum(p.numel() for p in flow.transformer.parameters()) / 1e6:.1f} M params, "
          f"{flow.dtype}, LoRA r {args.lora_r} ({sum(p.numel() for p in params) / 1e6:.2f} M trainable), "
          f"gradient checkpointing {'on' if args.gradient_checkpointing else 'off'}")
    print(f"batch: {args.pairs} pair(s) = {2 * args.pairs} videos of {args.frames}x{args.height}x{args.width} "
          f"(latents {tuple(tokens)})")
    print(f"plain flow-matching step (fwd+bwd, {2 * args.pairs} videos): {t_fm * 1e3:9.1f} ms")
    print(f"reference forward (adapter off, no grad):      {t_ref * 1e3:9.1f} ms")
    print(f"Flow-DPO step:                                  {t_dpo * 1e3:9.1f} ms  = {t_dpo / t_fm:.2f}x plain "
          f"(floor {(t_fm + t_ref) / t_fm:.2f}x)")
    print(f"Flow-DPO throughput: {args.pairs / t_dpo:.3f} pairs/s = {2 * args.pairs / t_dpo:.3f} videos/s")
    if flow.device.type == "cuda":
        print(f"peak GPU memory during DPO steps: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


def bench_cache(flow: WanFlowPipeline, args, root: Path) -> None:
    generator = torch.Generator().manual_seed(0)

    def clip(i: int) -> Path:  # blocky random content: x264 on pure noise would dominate the set-up time
        coarse = torch.rand(args.frames, args.height // 8, args.width // 8, 3, generator=generator) * 255
        frames = coarse.repeat_interleave(8, dim=1).repeat_interleave(8, dim=2).to(torch.uint8)
        return write_video(frames, root / f"clip{i}.mp4")

    clips = [clip(i) for i in range(args.cache_clips)]
    spec = FrameSpec(sample_fps=None, num_frames=args.frames)

    def seconds(fn) -> float:
        start = time.perf_counter()
        for clip in clips:
            fn(clip)
        return (time.perf_counter() - start) / len(clips)

    cold = seconds(LatentCache(root / "cache", flow, spec).video_file)
    warm = LatentCache(root / "cache", flow, spec)
    hit, hit_load = seconds(warm.video_file), seconds(warm.video)
    print(f"latent cache, {args.frames}x{args.height}x{args.width} clips: miss {cold * 1e3:.1f} ms/video "
          f"(decode + VAE encode + write), hit {hit * 1e3:.2f} ms (sha256 + lookup), "
          f"hit + load {hit_load * 1e3:.2f} ms -> {cold / hit_load:.0f}x faster")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--full-size", action="store_true", help="Wan2.1-T2V-1.3B-size transformer and VAE")
    parser.add_argument("--pairs", type=int, default=None, help="pairs per step (default 4 tiny, 1 full size)")
    parser.add_argument("--frames", type=int, default=None, help="default 9 tiny, 81 full size")
    parser.add_argument("--height", type=int, default=None, help="default 32 tiny, 480 full size")
    parser.add_argument("--width", type=int, default=None, help="default 32 tiny, 832 full size")
    parser.add_argument("--reps", type=int, default=None, help="timed steps (default 10 tiny, 3 full size)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--lora-r", type=int, default=64)
    parser.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=None,
                        help="default: on for full size")
    parser.add_argument("--cache-clips", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (the dev machine is shared)")
    args = parser.parse_args()
    full = args.full_size
    defaults = {"pairs": (4, 1), "frames": (9, 81), "height": (32, 480), "width": (32, 832), "reps": (10, 3),
                "gradient_checkpointing": (False, True)}  # (tiny, full size)
    for name, (tiny, big) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, big if full else tiny)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    flow = build_flow(full, torch.device(args.device))
    with tempfile.TemporaryDirectory() as tmp:
        bench_cache(flow, args, Path(tmp))
        bench_steps(flow, args, Path(tmp))


if __name__ == "__main__":
    main()
