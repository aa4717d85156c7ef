"""Write tiny, randomly initialised base models under BASE_MODELS_ROOT for the offline demo and tests:
a Qwen2-VL reward base (``tiny-qwen2-vl``) and a Wan 2.1 text-to-video pipeline (``tiny-wan``)."""

import json
import os
from pathlib import Path

from django.core.management.base import BaseCommand

from rewardlab import conf
from rewardlab.base_models import RUN_DEFAULTS_FILE

# What runs on the tiny models start from (base_models.run_defaults): seconds on a CPU, and sizes the tiny Wan
# can take (its position encoding covers 512 pixels a side).
_TINY_VIDEO = {"num_frames": 9, "height": 32, "width": 32}
RUN_DEFAULTS = {
    "tiny-qwen2-vl": {"reward": {"max_steps": 40, "lr": 1e-4, "max_pixels": 112 * 112, "min_pixels": 112 * 112, "save_every": 20}},
    "tiny-wan": {
        "alignment": {**_TINY_VIDEO, "max_steps": 20, "batch_size": 4, "win_rate_prompts": 2,
                      "sampling": {"steps": 8}},
        "generation": {**_TINY_VIDEO, "steps": 8},
    },
}


def _write_atomically(path: Path, text: str) -> None:
    """Replace the file in one step (a worker reading it meanwhile sees the old or the new text, never half), and
    only when it changes."""
    if path.is_file() and path.read_text() == text:
        return
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text)
    os.replace(partial, path)


class Command(BaseCommand):
    help = "Create tiny-qwen2-vl and tiny-wan under BASE_MODELS_ROOT (no download; seconds on a CPU)."

    def handle(self, *args, **options):
        from rewardlab.ml.tiny_qwen import make_tiny_reward_base
        from rewardlab.ml.tiny_wan import make_tiny_wan

        root = conf.base_models_root()
        for name, make, marker in (("tiny-qwen2-vl", make_tiny_reward_base, "config.json"),
                                   ("tiny-wan", make_tiny_wan, "model_index.json")):
            path = root / name
            if (path / marker).is_file():
                self.stdout.write(f"{path} exists")
            else:
                make(path)
                self.stdout.write(self.style.SUCCESS(f"wrote {path}"))
            _write_atomically(path / RUN_DEFAULTS_FILE, json.dumps({"run_defaults": RUN_DEFAULTS[name]}, indent=2) + "\n")
