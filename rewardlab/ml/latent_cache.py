"""VAE latents and text embeddings, computed once and kept on disk for every later run.

Layout: ``<cache_dir>/<model_id>/videos/<file sha256>-<frame spec>.safetensors`` and
``<cache_dir>/<model_id>/prompts/<prompt sha256>.safetensors``. ``model_id`` fingerprints the VAE and the
text encoder (not the transformer), so an aligned model and its base share one cache. Files are written to
a temporary name and renamed, so two runs filling one cache never read half a file.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from rewardlab.ml.configs import LatentDataConfig
from rewardlab.ml.pipelines import FlowPipeline, VideoSizeError
from rewardlab.ml.video import decode_video

DEFAULT_CACHE_DIR = Path(os.environ.get("VIDPREF_LATENT_CACHE", Path.home() / ".cache" / "vidpref" / "latents"))


@dataclass(frozen=True)
class FrameSpec:
    """Which frames of a video the VAE sees."""

    sample_fps: float | None = 16.0  # the generator's frame rate (Wan: 16); None keeps the source rate
    num_frames: int = 81  # at most this many from the start, rounded down to k * frame_multiple + 1
    height: int | None = None  # resize (cover, then centre crop) to height x width; None keeps the source size
    width: int | None = None

    def key(self) -> str:
        return f"fps{self.sample_fps}-n{self.num_frames}-{self.height}x{self.width}"


def latent_cache(config: LatentDataConfig, flow: FlowPipeline) -> LatentCache:
    """The cache a run's videos go through, at the frames its config asks for."""
    spec = FrameSpec(config.sample_fps, config.num_frames, config.height, config.width)
    return LatentCache(config.cache_dir or DEFAULT_CACHE_DIR, flow, spec)


def prepare_frames(
    frames: torch.Tensor, source_fps: float, spec: FrameSpec, *, frame_multiple: int, pixel_multiple: int,
    name: str = "video",
) -> torch.Tensor:
    """uint8 (T, 3, H, W) -> float (3, T', H', W') in [-1, 1] that the VAE and the transformer patching accept."""
    if spec.sample_fps and source_fps > 0:
        # Same playback speed as the generator's output: frame i of the result is at time i / sample_fps.
        step = source_fps / spec.sample_fps
        count = min(spec.num_frames, math.floor((frames.shape[0] - 1) / step) + 1)
        frames = frames[(torch.arange(count) * step).round().long()]
    usable = (min(frames.shape[0], spec.num_frames) - 1) // frame_multiple * frame_multiple + 1
    if usable < 1:
        raise VideoSizeError(f"{name}: no frames to encode")
    frames = frames[:usable].float()
    height, width = frames.shape[-2:]
    if spec.height and spec.width:
        scale = max(spec.height / height, spec.width / width)
        size = (max(spec.height, round(height * scale)), max(spec.width, round(width * scale)))
        frames = F.interpolate(frames, size=size, mode="bilinear", antialias=True, align_corners=False)
        top, left = (size[0] - spec.height) // 2, (size[1] - spec.width) // 2
        frames = frames[..., top : top + spec.height, left : left + spec.width]
    elif height % pixel_multiple or width % pixel_multiple:
        raise VideoSizeError(
            f"{name} is {width}x{height}; the VAE and the transformer's patches need both sides to be multiples "
            f"of {pixel_multiple}. Set height and width (e.g. 480x832) to resize videos to one size."
        )
    return (frames / 127.5 - 1).permute(1, 0, 2, 3).contiguous()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _save_atomic(tensor: torch.Tensor, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    save_file({"value": tensor.contiguous()}, str(tmp))
    os.replace(tmp, path)


class LatentCache:
    def __init__(self, cache_dir: str | Path, flow: FlowPipeline, spec: FrameSpec = FrameSpec()):
        if spec.height or spec.width:
            if not (spec.height and spec.width):
                raise ValueError("set both height and width, or neither")
            if spec.height % flow.pixel_multiple or spec.width % flow.pixel_multiple:
                raise VideoSizeError(
                    f"height x width {spec.height}x{spec.width}: both must be multiples of {flow.pixel_multiple}"
                )
        self.root = Path(cache_dir) / flow.model_id
        self.flow = flow
        self.spec = spec
        self.hits = 0
        self.misses = 0

    def video_file(self, path: str | Path) -> Path:
        """The cache file of one video's normalised latents (C, F, h, w), encoding it on a miss."""
        path = Path(path)
        file = self.root / "videos" / f"{file_sha256(path)}-{self.spec.key()}.safetensors"
        if file.is_file():
            self.hits += 1
            return file
        self.misses += 1
        frames, fps = decode_video(path, sample_fps=None, min_frames=1)
        pixels = prepare_frames(
            frames, fps, self.spec, frame_multiple=self.flow.frame_multiple,
            pixel_multiple=self.flow.pixel_multiple, name=str(path),
        )
        _save_atomic(self.flow.encode_video(pixels), file)
        return file

    def prompt_files(self, prompts: list[str]) -> list[Path]:
        """Cache files of text embeddings (L_i, D); the misses go through the text encoder in one batch."""
        files = {p: self.root / "prompts" / f"{hashlib.sha256(p.encode()).hexdigest()}.safetensors" for p in prompts}
        missing = [p for p, f in files.items() if not f.is_file()]
        self.hits += len(files) - len(missing)
        self.misses += len(missing)
        for prompt, emb in zip(missing, self.flow.encode_prompts(missing) if missing else [], strict=True):
            _save_atomic(emb, files[prompt])
        return [files[p] for p in prompts]

    def pair_files(self, path_a: str | Path, path_b: str | Path, *, name: str) -> tuple[Path, Path, tuple[int, ...]]:
        """Both videos of a pair, and the latent shape they share once cut to the shorter one's frames."""
        file_a, file_b = self.video_file(path_a), self.video_file(path_b)
        (c, f_a, h_a, w_a), (_, f_b, h_b, w_b) = latent_shape(file_a), latent_shape(file_b)
        if (h_a, w_a) != (h_b, w_b):
            raise VideoSizeError(
                f"{name}: its two videos have different sizes ({path_a}, {path_b}), so they cannot share noise; "
                "set height and width to resize every video to one size"
            )
        return file_a, file_b, (c, min(f_a, f_b), h_a, w_a)

    def video(self, path: str | Path) -> torch.Tensor:
        return load_tensor(self.video_file(path))

    def prompts(self, prompts: list[str]) -> list[torch.Tensor]:
        return [load_tensor(f) for f in self.prompt_files(prompts)]


def load_tensor(file: Path) -> torch.Tensor:
    return load_file(str(file))["value"]


def latent_shape(file: Path) -> tuple[int, ...]:
    with safe_open(str(file), framework="pt") as f:
        return tuple(f.get_slice("value").get_shape())


def load_latents(files: list[Path], num_frames: int) -> torch.Tensor:
    """Stack cached latents (B, C, F, h, w), keeping the first ``num_frames`` latent frames: the Wan VAE is
    causal, so a prefix of the latents is exactly the encoding of a prefix of the video."""
    return torch.stack([load_tensor(f)[:, :num_frames] for f in files])
