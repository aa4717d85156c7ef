"""The two ways a reward model reads a video (reward_model.MODES), side by side on the six real VideoAlign clips:
what each costs and how far apart their inputs and rewards are. The figures behind the default mode of our runs.

- frames: decode + resize seconds per clip on each resize path, and how the uint8 frames differ between them
- forward: seconds per scoring forward pass (6 clips, one batch) with 1-D positions and with 3-D M-RoPE, on the
  same weights (random LoRA and head, so the rewards are not flat)
- rewards: how far 1-D and M-RoPE rewards of the same model are apart, relative to their spread over the clips

    .venv/bin/python bench/bench_reward_modes.py                              # CPU, tiny Qwen2-VL
    python bench/bench_reward_modes.py --device cuda --full-size              # GPU, Qwen2-VL-2B shape, random
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer, Qwen2VLForConditionalGeneration

from rewardlab.ml.reward_model import MODES, RewardConfig, RewardInputBuilder, build_reward_model
from rewardlab.ml.tiny_qwen import make_tiny_reward_base, make_tokenizer, qwen2_vl_2b_config
from rewardlab.ml.video import PatchSpec, decode_video, resize_frames

VIDEOS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "videoalign" / "videos"
PROMPT = "The camera follows a young explorer through an abandoned urban building at night."


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--full-size", action="store_true", help="Qwen2-VL-2B architecture, random weights")
    parser.add_argument("--max-pixels", type=int, default=200704, help="VideoAlign's train.sh: 200704")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    device = torch.device(args.device)
    clips = sorted(VIDEOS.glob("*.mp4"))

    print(f"frames ({len(clips)} clips, max_pixels {args.max_pixels})")
    for clip in clips:
        frames, _ = decode_video(clip)
        paths = {}
        for path in ("qwen-vl-utils", "vidpref-v1"):
            seconds, paths[path] = timed(lambda p=path, f=frames: resize_frames(f, max_pixels=args.max_pixels, path=p),
                                         args.repeat)
            print(f"  {clip.name:16} {path:14} {tuple(paths[path].shape)}  resize {seconds * 1000:7.1f} ms")
        a, b = paths["qwen-vl-utils"], paths["vidpref-v1"]
        if a.shape == b.shape:
            diff = (a.int() - b.int()).abs()
            print(f"  {'':16} differ: {(diff > 0).float().mean() * 100:.1f}% of values, at most {diff.max()} grey levels")
        else:
            print(f"  {'':16} differ in size")

    with tempfile.TemporaryDirectory() as tmp:
        if args.full_size:
            tokenizer = make_tokenizer()
            vlm = Qwen2VLForConditionalGeneration(qwen2_vl_2b_config(tokenizer))
            base = "(random 2B)"
        else:
            base = make_tiny_reward_base(Path(tmp) / "base")
            tokenizer = AutoTokenizer.from_pretrained(base)
            vlm = Qwen2VLForConditionalGeneration.from_pretrained(base)
        config = RewardConfig(dimensions=["vq", "mq", "ta"], base_model_path=str(base), max_pixels=args.max_pixels,
                              lora_r=16, lora_alpha=32, **MODES["videoalign"])
        model = build_reward_model(vlm, tokenizer, config)
        with torch.no_grad():
            for name, param in model.named_parameters():
                if "lora_B" in name or name.startswith("head"):
                    param.normal_(0, 0.02)
        model.to(device).eval()
        builder = RewardInputBuilder(tokenizer, config, PatchSpec())
        items = [builder.encode(PROMPT, clip) for clip in clips]
        batch = {k: v.to(device) for k, v in builder.collate(items).items()}
        print(f"forward ({'2B shape' if args.full_size else 'tiny'}, {args.device}, {len(items)} clips, "
              f"{batch['input_ids'].shape[1]} tokens each)")
        rewards = {}
        for positions in ("1d", "mrope"):
            model.positions = positions

            def forward():
                with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                    return model(**batch).float().cpu()

            forward()  # warm-up
            seconds, rewards[positions] = timed(forward, args.repeat)
            print(f"  positions {positions:6} {seconds * 1000:8.1f} ms per batch")
        spread = rewards["1d"].std(dim=0)
        gap = (rewards["1d"] - rewards["mrope"]).abs().mean(dim=0)
        print("rewards: mean |1d - mrope| / std over the clips, per dimension: "
              + ", ".join(f"{d} {g / s:.2f}" for d, g, s in zip(config.dimensions, gap, spread, strict=True)))


if __name__ == "__main__":
    main()
