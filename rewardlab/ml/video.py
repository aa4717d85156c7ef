"""Video frames for Qwen2-VL: PyAV decoding, 2 fps sampling, smart resize and the processor's exact patch layout.

The data flow, one function per step:

    decode_video(path)                 uint8 (T, 3, H, W) frames sampled at `sample_fps` (or `num_frames`), source fps
    resize_frames(frames, ...)         uint8 (T, 3, h, w) with h, w multiples of 28, aspect kept, area by smart_resize
    patchify(frames, spec)             float (grid_t*grid_h*grid_w, 3*2*14*14) and grid (t, h, w), normalised

Sampling follows qwen-vl-utils' smart_nframes (VideoAlign's copy of it). Resizing has two paths (RESIZE_PATHS):
"qwen-vl-utils", what VideoAlign trained and scores with, and "vidpref-v1", what our checkpoints written before
it used. The patch layout and normalisation follow transformers' Qwen2-VL processors. We do it in torch because
transformers' video processor needs torchvision, which does not install beside the CPU torch here.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import av
import torch
import torch.nn.functional as F

from rewardlab.ml.configs import VIDEO_MIN_PIXELS

# OpenAI CLIP statistics, as in Qwen2-VL's preprocessor_config.json
IMAGE_MEAN = (0.48145466, 0.4578275, 0.40821073)
IMAGE_STD = (0.26862954, 0.26130258, 0.27577711)

FRAME_FACTOR = 2  # frame counts are even: the temporal patch size
MAX_ASPECT_RATIO = 200

RESIZE_PATHS = {
    "qwen-vl-utils": "qwen-vl-utils' smart_resize size (min_pixels not capped, no side floor when shrinking), then "
                     "torchvision's bicubic antialiased resize of the uint8 frames computed in float32, clamped to "
                     "[0, 255] and rounded (VideoAlign)",
    "vidpref-v1": "smart_resize with min_pixels capped at max_pixels and sides of at least 28, then torch's uint8 "
                  "bicubic antialiased kernel (VidPref checkpoints written before the VideoAlign mode)",
}


class VideoDecodeError(ValueError):
    """A video that cannot be used: unreadable, no video stream, or too few frames. The message names the file."""


@dataclass(frozen=True)
class PatchSpec:
    """How the vision tower cuts frames into patches (Qwen2-VL: 2 frames x 14 x 14 pixels, 2x2 merged)."""

    patch_size: int = 14
    temporal_patch_size: int = 2
    merge_size: int = 2
    image_mean: tuple[float, float, float] = IMAGE_MEAN
    image_std: tuple[float, float, float] = IMAGE_STD

    @property
    def factor(self) -> int:
        """Frame sides are multiples of this: one merged token covers factor x factor pixels."""
        return self.patch_size * self.merge_size

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> PatchSpec:
        """Read a model folder's preprocessor_config.json; defaults for whatever it does not say."""
        path = Path(folder) / "preprocessor_config.json"
        if not path.exists():
            return cls()
        cfg = json.loads(path.read_text())
        default = cls()
        return cls(
            patch_size=cfg.get("patch_size", default.patch_size),
            temporal_patch_size=cfg.get("temporal_patch_size", default.temporal_patch_size),
            merge_size=cfg.get("merge_size", default.merge_size),
            image_mean=tuple(cfg.get("image_mean", default.image_mean)),
            image_std=tuple(cfg.get("image_std", default.image_std)),
        )


# --- sampling ---------------------------------------------------------------------------------------------------

def num_sampled_frames(total_frames: int, video_fps: float, *, sample_fps: float = 2.0, num_frames: int | None = None,
                       min_frames: int = 4, max_frames: int = 768) -> int:
    """How many frames to take, as qwen-vl-utils' smart_nframes counts them: `num_frames` rounded to even, or
    `sample_fps` frames a second, even and within [min_frames, max_frames]; never more than the video has, so a
    clip of 2 or 3 frames gives 2. Fewer than 2 raises VideoDecodeError."""
    if num_frames is not None:
        n = round(num_frames / FRAME_FACTOR) * FRAME_FACTOR
    else:
        min_frames = math.ceil(min_frames / FRAME_FACTOR) * FRAME_FACTOR
        max_frames = math.floor(min(max_frames, total_frames) / FRAME_FACTOR) * FRAME_FACTOR
        n = total_frames / video_fps * sample_fps
        n = min(max(n, min_frames), max_frames)
        n = round(n / FRAME_FACTOR) * FRAME_FACTOR
    n = min(n, total_frames)
    if n < FRAME_FACTOR:
        raise VideoDecodeError(f"the video has {total_frames} frames; at least {FRAME_FACTOR} are needed")
    return n


def sample_indices(total_frames: int, n: int) -> list[int]:
    """`n` frame indices spread evenly from the first frame to the last."""
    return torch.linspace(0, total_frames - 1, n).round().long().tolist()


# --- decoding ---------------------------------------------------------------------------------------------------

def _probe(path: Path) -> tuple[int, float]:
    """(frame count, fps) from the container; counts packets when the header has no frame count."""
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise VideoDecodeError(f"{path}: no video stream")
        stream = container.streams.video[0]
        total = stream.frames
        if total <= 0:
            total = sum(1 for packet in container.demux(stream) if packet.size > 0)
        rate = stream.average_rate or stream.guessed_rate
        if rate:
            fps = float(rate)
        elif stream.duration and stream.time_base:
            fps = total / float(stream.duration * stream.time_base)
        else:
            fps = 0.0
    return total, fps


def _decode_frames(path: Path, indices: list[int] | None, total: int) -> tuple[torch.Tensor | None, int]:
    """Decode every frame, keeping frames `indices` (all when None) as RGB in a uint8 (n, H, W, 3) tensor
    allocated once from the header's frame count `total`. Returns it and how many frames were decoded."""
    slots = None if indices is None else {index: slot for slot, index in enumerate(indices)}
    capacity = total if indices is None else len(indices)
    frames = None
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            slot = count if slots is None else slots.get(count)
            if slot is not None and slot < capacity:
                if frames is None:
                    frames = torch.empty((capacity, frame.height, frame.width, 3), dtype=torch.uint8)
                elif (frame.height, frame.width) != frames.shape[1:3]:
                    raise VideoDecodeError(f"{path}: frame {count} is {frame.width}x{frame.height}, the first "
                                           f"was {frames.shape[2]}x{frames.shape[1]}; sizes must not change")
                frames.numpy()[slot] = frame.to_ndarray(format="rgb24")
            count += 1
    return frames, count


def decode_video(path: str | Path, *, sample_fps: float | None = 2.0, num_frames: int | None = None,
                 max_frames: int = 768, min_frames: int = 4) -> tuple[torch.Tensor, float]:
    """Decode a video into uint8 frames (T, 3, H, W) and return them with the source fps.

    With `sample_fps`, frames are sampled evenly as num_sampled_frames counts them (`num_frames` instead of the
    rate when given); with `sample_fps=None` every frame is returned, and a video of fewer than `min_frames`
    frames raises. Videos PyAV cannot read, or too short to sample, raise VideoDecodeError naming the file.
    The frames are channels-last in memory (a permuted view, as decoded), which saves a copy of the
    whole video; call .contiguous() where a consumer needs the (T, 3, H, W) layout in memory.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoDecodeError(f"{path}: no such video file")
    try:
        total, fps = _probe(path)
        if sample_fps is not None and fps <= 0:
            raise VideoDecodeError(f"{path}: the video has no frame rate, so it cannot be sampled at {sample_fps} fps")

        def pick(count: int) -> list[int] | None:
            if sample_fps is None:
                return None
            if count < FRAME_FACTOR:
                return []
            n = num_sampled_frames(count, fps, sample_fps=sample_fps, num_frames=num_frames, max_frames=max_frames)
            return sample_indices(count, n)

        frames, decoded = _decode_frames(path, pick(total), total)
        if decoded != total:  # the header's frame count was wrong: decode again knowing the true count
            frames, decoded = _decode_frames(path, pick(decoded), decoded)
    except av.error.FFmpegError as e:
        raise VideoDecodeError(f"{path}: cannot decode video ({e})") from e
    needed = min_frames if sample_fps is None else FRAME_FACTOR
    if decoded < needed or frames is None:
        raise VideoDecodeError(f"{path}: the video has {decoded} frames; at least {needed} are needed")
    return frames.permute(0, 3, 1, 2), fps


# --- resizing ---------------------------------------------------------------------------------------------------

def smart_resize(height: int, width: int, *, factor: int = 28, min_pixels: int = VIDEO_MIN_PIXELS,
                 max_pixels: int = 448 * 448, path: str = "qwen-vl-utils") -> tuple[int, int]:
    """Frame size for the vision tower: both sides multiples of `factor`, the aspect ratio kept as closely as
    possible, the area brought under max_pixels or up to min_pixels.

    "qwen-vl-utils" (RESIZE_PATHS) computes it as qwen-vl-utils does: a frame whose rounded area exceeds
    max_pixels shrinks (sides floored to `factor`), else one under min_pixels grows, even past max_pixels when
    min_pixels is the larger. "vidpref-v1" caps min_pixels at max_pixels and keeps shrunk sides at least `factor`.
    """
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise ValueError(f"aspect ratio {max(height, width) / min(height, width):.0f} is above {MAX_ASPECT_RATIO}")
    legacy = path == "vidpref-v1"
    if legacy:
        min_pixels = min(min_pixels, max_pixels)
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = math.floor(height / beta / factor) * factor
        w_bar = math.floor(width / beta / factor) * factor
        if legacy:
            h_bar, w_bar = max(factor, h_bar), max(factor, w_bar)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    if not h_bar or not w_bar:
        raise ValueError(f"a {width}x{height} frame shrinks to nothing under max_pixels {max_pixels}; raise max_pixels")
    return h_bar, w_bar


RESIZE_CHUNK = 8  # frames resized in float at a time: bounds the float32 copy of a long video


def resize_frames(frames: torch.Tensor, *, max_pixels: int = 448 * 448, min_pixels: int = VIDEO_MIN_PIXELS,
                  factor: int = 28, path: str = "qwen-vl-utils") -> torch.Tensor:
    """Resize uint8 frames (T, 3, H, W) to smart_resize's size, bicubic and antialiased; stays uint8.

    "qwen-vl-utils" does what torchvision's resize does to a uint8 tensor, which is what qwen-vl-utils calls:
    convert to float32, interpolate, clamp to [0, 255], round. "vidpref-v1" hands the uint8 frames to torch's
    own uint8 kernel, which rounds differently (up to ~28 grey levels at sharp edges).
    """
    if path not in RESIZE_PATHS:
        raise ValueError(f"resize path must be one of {', '.join(RESIZE_PATHS)}, not {path!r}")
    height, width = frames.shape[-2:]
    size = smart_resize(height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels, path=path)
    if size == (height, width):
        return frames
    if path == "vidpref-v1":
        return F.interpolate(frames, size=size, mode="bicubic", antialias=True, align_corners=False)
    out = torch.empty((frames.shape[0], frames.shape[1], *size), dtype=torch.uint8)
    for start in range(0, frames.shape[0], RESIZE_CHUNK):
        chunk = F.interpolate(frames[start:start + RESIZE_CHUNK].float(), size=size, mode="bicubic",
                              antialias=True, align_corners=False)
        out[start:start + RESIZE_CHUNK] = chunk.clamp_(0, 255).round_()
    return out


# --- patches ----------------------------------------------------------------------------------------------------

def patchify(frames: torch.Tensor, spec: PatchSpec = PatchSpec()) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalise uint8 frames (T, 3, h, w) and flatten them the way Qwen2-VL's processor does.

    Returns pixel values (grid_t * grid_h * grid_w, 3 * tp * p * p) and grid_thw (3,). Rows run over
    (t, h-block, w-block, h-in-block, w-in-block) so that each run of merge_size**2 rows is one merged
    token; columns run over (channel, frame-in-patch, y, x), the order the vision tower's Conv3d reads.
    """
    p, tp, m = spec.patch_size, spec.temporal_patch_size, spec.merge_size
    num_frames, channels, height, width = frames.shape
    if height % (p * m) or width % (p * m):
        raise ValueError(f"frame size {height}x{width} is not a multiple of {p * m}; resize_frames first")
    if pad := -num_frames % tp:  # repeat the last frame to fill the last temporal patch
        frames = torch.cat([frames, frames[-1:].expand(pad, -1, -1, -1)])
        num_frames += pad
    grid_t, grid_h, grid_w = num_frames // tp, height // p, width // p
    # rearrange the bytes first, then convert and normalise once in place: (x / 255 - mean) / std = x * a - b
    patches = frames.reshape(grid_t, tp, channels, grid_h // m, m, p, grid_w // m, m, p)
    patches = patches.permute(0, 3, 6, 4, 7, 2, 1, 5, 8)  # (t, hb, wb, hm, wm, C, tp, py, px)
    flat = patches.reshape(grid_t * grid_h * grid_w, channels, tp * p * p).float()
    std = torch.tensor(spec.image_std).view(1, channels, 1)
    mean = torch.tensor(spec.image_mean).view(1, channels, 1)
    flat.mul_(1 / (255 * std)).sub_(mean / std)
    flat = flat.view(grid_t * grid_h * grid_w, channels * tp * p * p)
    return flat, torch.tensor([grid_t, grid_h, grid_w])


def load_video_patches(path: str | Path, *, fps: float = 2.0, max_pixels: int = 448 * 448,
                       min_pixels: int = VIDEO_MIN_PIXELS, max_frames: int = 768, resize: str = "qwen-vl-utils",
                       spec: PatchSpec = PatchSpec()) -> tuple[torch.Tensor, torch.Tensor]:
    """decode_video -> resize_frames -> patchify: what the reward model reads from a file."""
    frames, _ = decode_video(path, sample_fps=fps, max_frames=max_frames)
    frames = resize_frames(frames, max_pixels=max_pixels, min_pixels=min_pixels, factor=spec.factor, path=resize)
    return patchify(frames, spec)
