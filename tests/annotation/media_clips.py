"""Small media files for ingest tests, made once per test session with real ffmpeg."""

import atexit
import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

from annotation.synthetic_videos import make_clip

_DIR = Path(tempfile.mkdtemp(prefix="vidpref-clips-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, capture_output=True)


@functools.cache
def clip(seed: int = 0, *, seconds: float = 1.0, width: int = 160, height: int = 96, codec: str = "libx264") -> Path:
    """A distinct synthetic H.264 (or other codec) MP4 per argument set."""
    return make_clip(_DIR / f"clip-{seed}-{seconds}-{width}x{height}-{codec}.mp4", seconds=seconds, width=width,
                     height=height, seed=seed, codec=codec)


@functools.cache
def slow_to_render() -> Path:
    """20 s of MPEG-4 Part 2 at 640x360 (4 MB): the render transcodes it, which takes a few seconds."""
    path = _DIR / "slow-to-render.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=24", "-t", "20", "-c:v", "mpeg4", "-q:v", "5", str(path))
    return path


@functools.cache
def odd_444(seed: int = 0) -> Path:
    """H.264 High 4:4:4 at 161x97: decodable, but no browser plays it; it must be transcoded."""
    path = _DIR / f"odd-444-{seed}.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=161x97:rate=10", "-t", "1", "-vf", f"hue=h={seed}",
            "-c:v", "libx264", "-pix_fmt", "yuv444p", "-preset", "ultrafast", str(path))
    return path


@functools.cache
def tagged(seed: int = 0) -> Path:
    """A clip whose container tags name the model that made it, and that carries an audio track."""
    path = _DIR / f"tagged-{seed}.mp4"
    _ffmpeg("-i", str(clip(seed)), "-f", "lavfi", "-i", "sine=d=1", "-c:v", "copy", "-c:a", "aac", "-shortest",
            "-metadata", "title=secret-model-v3", "-metadata", "comment=made by secret-model-v3", str(path))
    return path


@functools.cache
def bad(kind: str) -> Path:
    """Files that are not usable videos, each the way real uploads go wrong."""
    path = _DIR / f"bad-{kind}"
    if kind == "text.mp4":
        path.write_text("This is a README, not a video.\n")
    elif kind == "empty.mp4":
        path.write_bytes(b"")
    elif kind == "image.png":
        _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1", str(path))
    elif kind == "drawing.svg":  # ffmpeg opens it (svg_pipe) but has no decoder for it
        path.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64"/></svg>\n')
    elif kind == "audio.m4a":
        _ffmpeg("-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac", str(path))
    elif kind == "wide.mp4":  # 4112x16: wider than the default limit of 4096
        _ffmpeg("-f", "lavfi", "-i", "color=c=gray:size=4112x16:rate=8", "-t", "1", "-pix_fmt", "yuv420p", str(path))
    elif kind == "long.mp4":  # two hours, one frame a minute: cheap to make, absurd to annotate
        _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=1/60", "-t", "7200", "-pix_fmt", "yuv420p", str(path))
    elif kind == "truncated.mp4":  # cut before the index (moov at the end): it cannot even be opened
        data = clip(90, seconds=2.0).read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "truncated-faststart.mp4":  # index intact, frames missing: only a full decode notices
        whole = _DIR / "faststart.mp4"
        _ffmpeg("-i", str(clip(91, seconds=2.0, width=320, height=192)), "-c", "copy", "-movflags", "+faststart", str(whole))
        data = whole.read_bytes()
        path.write_bytes(data[: len(data) * 2 // 3])
    else:
        raise ValueError(kind)
    return path
