"""What a saved diffusers pipeline folder says without loading it: its pipeline class, and the video sizes it takes.

No torch here: the web process checks a run's settings with this before a GPU worker loads anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class UnsupportedPipelineError(ValueError):
    """The base model path is not a diffusers pipeline we can align."""


def read_pipeline_class(path: str | Path) -> str:
    index = Path(path) / "model_index.json"
    if not index.is_file():
        raise UnsupportedPipelineError(
            f"{path} is not a diffusers pipeline folder (no model_index.json); "
            "pass the local folder of a saved pipeline such as Wan2.1-T2V-1.3B-Diffusers"
        )
    return json.loads(index.read_text())["_class_name"]


@dataclass(frozen=True)
class SizeRules:
    """The videos a pipeline takes: k * frame_multiple + 1 frames, sides that are multiples of pixel_multiple, and
    no more along an axis than its position encoding covers."""

    frame_multiple: int
    pixel_multiple: int
    max_frames: int
    max_side: int

    def problems(self, *, num_frames: int | None = None, height: int | None = None,
                 width: int | None = None) -> dict[str, str]:
        """What is wrong with each given setting, by name; empty when the pipeline takes them."""
        found = {}
        m, p = self.frame_multiple, self.pixel_multiple
        if num_frames is not None:
            if num_frames < 1 or (num_frames - 1) % m:
                found["num_frames"] = f"{num_frames}: the VAE takes k*{m}+1 frames (e.g. {m * 20 + 1})"
            elif num_frames > self.max_frames:
                found["num_frames"] = f"{num_frames}: this model takes at most {self.max_frames} frames"
        for name, side in (("height", height), ("width", width)):
            if side is None:
                continue
            if side < p or side % p:
                found[name] = f"{side}: must be a positive multiple of {p}"
            elif side > self.max_side:
                found[name] = f"{side}: this model takes at most {self.max_side} (its position encoding ends there)"
        return found


def wan_size_rules(vae: Mapping, transformer: Mapping) -> SizeRules:
    """As WanPipeline scales (2 per VAE down-sampling, temporal where flagged) and patches; rope_max_seq_len
    positions per axis: the tiny demo model has 32, Wan 2.1 1024."""
    downsample = vae["temperal_downsample"]
    temporal, spatial = 2 ** sum(downsample), 2 ** len(downsample)
    patch_t, patch_h, _ = transformer["patch_size"]
    positions = transformer["rope_max_seq_len"]
    return SizeRules(frame_multiple=temporal, pixel_multiple=spatial * patch_h,
                     max_frames=(positions * patch_t - 1) * temporal + 1, max_side=positions * spatial * patch_h)


def _configs(path: Path, *components: str) -> list[dict]:
    return [json.loads((path / component / "config.json").read_text()) for component in components]


# diffusers pipeline class name -> its size rules from the folder (one line per adapter in pipelines/)
_SIZE_RULES = {"WanPipeline": lambda path: wan_size_rules(*_configs(path, "vae", "transformer"))}


def size_rules(path: str | Path) -> SizeRules:
    """The video sizes the pipeline saved at ``path`` takes, from its configs alone."""
    class_name = read_pipeline_class(path)
    if class_name not in _SIZE_RULES:
        raise UnsupportedPipelineError(f"{path} holds a {class_name}; supported: {', '.join(sorted(_SIZE_RULES))}")
    try:
        return _SIZE_RULES[class_name](Path(path))
    except (OSError, ValueError, KeyError, TypeError) as exc:  # a partial copy or a hand-edited config
        raise UnsupportedPipelineError(f"{path}: its {class_name} configs cannot be read ({exc!r})") from exc
