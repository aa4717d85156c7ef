"""What our video input costs next to bare PyAV decoding of the same files.

For each clip (default: the six real VideoAlign example clips):
- bare:       PyAV decodes every frame to an RGB array (what any reader must at least do)
- pipeline:   load_video_patches at 2 fps, 448x448 max (decode all, convert the sampled frames, resize, patchify)
- all frames: decode_video(sample_fps=None), every frame as a uint8 tensor (what alignment code reads)
Throughput is source frames per second; "x bare" is our rate over bare's (the aim is >= 0.8x).

    .venv/bin/python bench/bench_video_decode.py [--repeat 5] [--threads 1] [--max-pixels 200704] [VIDEO ...]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import av
import torch

from rewardlab.ml.video import decode_video, load_video_patches

FIXTURES = Path(os.environ.get("VIDPREF_FIXTURES", Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "videoalign")) / "videos"


def bare_decode(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for frame in container.decode(stream) if frame.to_ndarray(format="rgb24") is not None)


def best_times(fns: dict, repeat: int) -> dict[str, float]:
    """Best of `repeat` runs of each, interleaved so that a busy machine slows all of them alike."""
    times = {name: float("inf") for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name] = min(times[name], time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--max-pixels", type=int, default=448 * 448)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    videos = args.videos or sorted(FIXTURES.glob("*.mp4"))

    print(f"{'video':<18} {'frames':>6} {'size':>10} {'bare f/s':>9} {'pipeline f/s':>13} {'x bare':>7} "
          f"{'all-frames f/s':>15} {'x bare':>7}")
    totals = {"frames": 0, "bare": 0.0, "pipeline": 0.0, "all": 0.0}
    for path in videos:
        n = bare_decode(path)  # warm the page cache
        with av.open(str(path)) as c:
            size = f"{c.streams.video[0].width}x{c.streams.video[0].height}"
        times = best_times({
            "bare": lambda p=path: bare_decode(p),
            "pipeline": lambda p=path: load_video_patches(p, max_pixels=args.max_pixels),
            "all": lambda p=path: decode_video(p, sample_fps=None),
        }, args.repeat)
        bare, pipeline, every = times["bare"], times["pipeline"], times["all"]
        totals["frames"] += n
        totals["bare"] += bare
        totals["pipeline"] += pipeline
        totals["all"] += every
        print(f"{path.name:<18} {n:>6} {size:>10} {n / bare:>9.0f} {n / pipeline:>13.0f} {bare / pipeline:>7.2f} "
              f"{n / every:>15.0f} {bare / every:>7.2f}")
    n = totals["frames"]
    print(f"{'all':<18} {n:>6} {'':>10} {n / totals['bare']:>9.0f} {n / totals['pipeline']:>13.0f} "
          f"{totals['bare'] / totals['pipeline']:>7.2f} {n / totals['all']:>15.0f} {totals['bare'] / totals['all']:>7.2f}")


if __name__ == "__main__":
    main()
