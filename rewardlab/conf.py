"""Run settings: Django settings when the lead defines them, else environment variables, else defaults.

Kept here so the web process, the workers and the tests read the same values (a test worker inherits the
environment, so ``RUN_HEARTBEAT_SECONDS=0.2`` in its environment makes a fast heartbeat).
"""

import os
from pathlib import Path

from django.conf import settings


def _setting(name: str, default: str) -> str:
    return str(getattr(settings, name, os.environ.get(name, default)))


def run_queue() -> str:
    """The Celery queue runs go to: "gpu", or another name to keep a pool of GPU workers apart (tests do)."""
    return _setting("RUN_QUEUE", "gpu")


def heartbeat_seconds() -> float:
    """How often a running worker writes its heartbeat and reads the cancel flag."""
    return float(_setting("RUN_HEARTBEAT_SECONDS", "5"))


def stale_after_seconds() -> float:
    """A running run whose heartbeat is older than this has lost its worker; the sweeper takes it back."""
    return float(_setting("RUN_STALE_AFTER_SECONDS", "90"))


def resend_after_seconds() -> float:
    """A queued run no worker has taken for this long has its task sent again, in case the broker lost it
    (a Redis restart without persistence); a second delivery of a run that did start is dropped."""
    return float(_setting("RUN_RESEND_AFTER_SECONDS", "3600"))


def max_attempts() -> int:
    """Starts a run may have (first start + resumes after a lost worker) before it fails for good."""
    return int(_setting("RUN_MAX_ATTEMPTS", "3"))


def progress_flush_seconds() -> float:
    """Progress and metric points are written at most this often (and always at the end of a phase)."""
    return float(_setting("RUN_PROGRESS_FLUSH_SECONDS", "1"))


def device() -> str:
    """The torch device a worker trains on: "auto" (CUDA when visible, else CPU), "cpu" or "cuda"."""
    return _setting("RUN_DEVICE", "auto")


def base_models_root() -> Path:
    """Where base weights live (a read-only volume on GPU machines); base model paths must be under it."""
    return Path(_setting("BASE_MODELS_ROOT", str(Path(settings.DATA_DIR) / "models")))


def runs_root() -> Path:
    return Path(settings.RUNS_ROOT)


def latent_cache_dir() -> Path:
    """VAE latents and text embeddings of training videos, shared by alignment runs (keyed by model)."""
    return Path(os.environ.get("VIDPREF_LATENT_CACHE") or runs_root() / "latent-cache")


def launcher() -> str:
    """The command that starts a multi-GPU run (see services/distributed.py): ``{python}`` is this interpreter,
    ``{n}`` the process count. E.g. ``accelerate launch --multi_gpu --num_processes {n} -m rewardlab.child``."""
    return _setting("RUN_LAUNCHER", "{python} -m torch.distributed.run --standalone --nproc_per_node {n} -m rewardlab.child")
