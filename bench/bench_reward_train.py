"""VideoReward training speed: pairs per second and peak memory of the real training step (train_reward.train_step).

Each pair is two videos of `--seconds` at `--fps` (6 s at 2 fps = 12 frames) and `--size` x `--size` pixels
(448x448 -> 6 x 32 x 32 patches = 1536 video tokens per video), plus a one-sentence prompt in the reward template.
Random frames and labels: the step's cost does not depend on what the pixels show.

- default: the tiny Qwen2-VL of the tests (tiny_qwen.tiny_config) on the CPU
- --full-size: Qwen2-VL-2B-Instruct's architecture with random weights (no download): LoRA r 64 / alpha 128 on
  the language model, the vision tower trained in full, fp32 weights with bf16 autocast and gradient
  checkpointing on GPUs, AdamW — the paper's recipe

    .venv/bin/python bench/bench_reward_train.py                         # CPU, tiny, 112x112, ~20 s
    python bench/bench_reward_train.py --device cuda --full-size         # GPU, 2B-size
"""

from __future__ import annotations

import argparse
import itertools
import resource
import time
from functools import partial

import torch
from transformers import Qwen2VLForConditionalGeneration, get_constant_schedule_with_warmup

from rewardlab.ml.losses import btt_loss, encode_labels
from rewardlab.ml.reward_model import RewardConfig, RewardInputBuilder, build_reward_model
from rewardlab.ml.tiny_qwen import make_tokenizer, qwen2_vl_2b_config, tiny_config
from rewardlab.ml.train_reward import train_step

PROMPT = "A first-person view of an astronaut running across the surface of the moon, smooth light movements."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--full-size", action="store_true", help="Qwen2-VL-2B architecture, random weights")
    parser.add_argument("--batch-size", type=int, default=2, help="pairs per step")
    parser.add_argument("--steps", type=int, default=5, help="timed steps (after --warmup untimed ones)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--size", type=int, help="frame side in pixels (default 448 with --full-size, else 112)")
    parser.add_argument("--vision", choices=["full", "frozen", "lora"], default="full")
    parser.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=None,
                        help="default: on for CUDA")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    args.size = args.size or (448 if args.full_size else 112)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    checkpointing = device.type == "cuda" if args.gradient_checkpointing is None else args.gradient_checkpointing
    autocast_dtype = torch.bfloat16 if device.type == "cuda" else None

    torch.manual_seed(0)
    tokenizer = make_tokenizer()
    config = qwen2_vl_2b_config(tokenizer) if args.full_size else tiny_config(tokenizer)
    with torch.device(device):
        vlm = Qwen2VLForConditionalGeneration(config)
    reward_config = RewardConfig(dimensions=["vq", "mq", "ta"], base_model_path="(in memory)",
                                 max_pixels=args.size * args.size, vision=args.vision,
                                 **({"lora_r": 64, "lora_alpha": 128} if args.full_size else {"lora_r": 8, "lora_alpha": 16}))
    model = build_reward_model(vlm, tokenizer, reward_config).to(device)
    if checkpointing:
        model.enable_activation_checkpointing()
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=2e-6)
    scheduler = get_constant_schedule_with_warmup(optimizer, 0)

    inputs = RewardInputBuilder(tokenizer, reward_config)
    n_frames = round(args.seconds * args.fps)
    frames = torch.randint(0, 256, (n_frames, 3, args.size, args.size), dtype=torch.uint8)
    items = [inputs.encode_frames(PROMPT, frames) for _ in range(2 * args.batch_size)]
    labels = encode_labels([{"vq": "A", "mq": "B", "ta": "tie"}] * args.batch_size, reward_config.dimensions)
    batches = itertools.repeat((inputs.collate(items), labels))
    step = partial(train_step, model, batches, optimizer=optimizer, scheduler=scheduler, params=params,
                   loss_fn=btt_loss, device=device, autocast_dtype=autocast_dtype)

    total = sum(p.numel() for p in model.parameters())
    print(f"model: {'Qwen2-VL-2B architecture' if args.full_size else 'tiny Qwen2-VL'}, {total / 1e6:.1f} M params, "
          f"{sum(p.numel() for p in params) / 1e6:.1f} M trained (vision {args.vision}, "
          f"LoRA r {reward_config.lora_r}); device {device}; gradient checkpointing {checkpointing}; "
          f"autocast {autocast_dtype}")
    print(f"input: {args.batch_size} pairs/step, {n_frames} frames of {args.size}x{args.size} per video, "
          f"{len(items[0]['input_ids'])} tokens per sequence ({int(items[0]['grid_thw'].prod()) // 4} video tokens)")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        loss, *_ = step()
    loss.item()  # waits for the device
    elapsed = time.perf_counter() - start
    pairs_per_s = args.steps * args.batch_size / elapsed
    print(f"{args.steps / elapsed:.3f} steps/s, {pairs_per_s:.3f} pairs/s ({2 * pairs_per_s:.3f} videos/s), "
          f"{elapsed / args.steps:.2f} s/step")
    if device.type == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB allocated, "
              f"{torch.cuda.max_memory_reserved(device) / 2**30:.2f} GiB reserved")
    print(f"peak process RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
