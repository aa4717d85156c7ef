"""Synthetic clips made with ffmpeg, for the demo, tests and benchmarks (no network, no weights).

Each "model" differs in a way people and a small reward model can see: sensor noise (visual quality),
frame jitter and dropped frames (motion quality), and what is shown (text alignment).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

# lavfi sources that move, so motion quality is visible; random ones get the clip's seed so a clip is reproducible.
CONTENTS = {
    "testsrc2": "testsrc2=size={w}x{h}:rate={fps}",
    "mandelbrot": "mandelbrot=size={w}x{h}:rate={fps}",
    "life": "life=size={w}x{h}:rate={fps}:mold=10:ratio=0.1:death_color=#003366:life_color=#ffcc00:seed={seed}",
    "cellauto": "cellauto=size={w}x{h}:rate={fps}:rule=110:random_fill_ratio=0.5:seed={seed}",
}

# Demo generation models: names a team might use, each with a visible character.
DEMO_MODELS: dict[str, dict] = {
    "crisp-v2": {"noise": 0, "jitter": 0},
    "grainy-v1": {"noise": 40, "jitter": 0},
    "jittery-v1": {"noise": 0, "jitter": 3},
    "offtopic-v1": {"noise": 8, "jitter": 1, "content": "cellauto"},
}


def make_clip(
    path: str | Path,
    *,
    seconds: float = 2.0,
    fps: int = 8,
    width: int = 160,
    height: int = 96,
    content: str = "testsrc2",
    noise: int = 0,
    jitter: int = 0,
    seed: int = 0,
    codec: str = "libx264",
) -> Path:
    """Write an H.264 MP4 clip; ``noise`` is ffmpeg noise strength (0-100), ``jitter`` drops/duplicates frames."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if content not in CONTENTS:
        raise ValueError(f"unknown content {content!r}; choose from {sorted(CONTENTS)}")
    source = CONTENTS[content].format(w=width, h=height, fps=fps, seed=seed)
    # A seed-dependent hue shift keeps two clips of one style distinct (different sha256, different look).
    filters = [f"hue=h={(seed * 37) % 360}"]
    if noise:
        filters.append(f"noise=alls={noise}:allf=t+u:all_seed={seed + 1}")
    if jitter:
        # Stutter: keep frames in bursts, then hold, so motion is visibly uneven.
        filters.append(f"select='lt(mod(n\\,{jitter + 2})\\,2)',setpts=N/({fps}*TB)")
        filters.append(f"fps={fps}")
    cmd = [
        "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source, "-t", f"{seconds}",
        "-vf", ",".join(filters), "-c:v", codec, "-pix_fmt", "yuv420p", "-preset", "veryfast", "-an", str(path),
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    return path
