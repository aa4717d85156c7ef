"""Run settings, read from Django's settings (config/settings.py reads them from the environment).

Functions rather than constants, so a test's settings override applies at once.
"""

from pathlib import Path

from django.conf import settings


def run_queue() -> str:
    """The Celery queue runs go to: "gpu", or another name to keep a pool of GPU workers apart (tests do)."""
    return settings.RUN_QUEUE


def heartbeat_seconds() -> float:
    """How often a running worker writes its heartbeat and reads the cancel flag."""
    return settings.RUN_HEARTBEAT_SECONDS


def stale_after_seconds() -> float:
    """A running run whose heartbeat is older than this has lost its worker; the sweeper takes it back."""
    return settings.RUN_STALE_AFTER_SECONDS


def resend_after_seconds() -> float:
    """A queued run no worker has taken for this long has its task sent again, in case the broker lost it
    (a Redis restart without persistence); a second delivery of a run that did start is dropped."""
    return settings.RUN_RESEND_AFTER_SECONDS


def max_attempts() -> int:
    """Starts a run may have (first start + resumes after a lost worker) before it fails for good."""
    return settings.RUN_MAX_ATTEMPTS


def progress_flush_seconds() -> float:
    """Progress and metric points are written at most this often (and always at the end of a phase)."""
    return settings.RUN_PROGRESS_FLUSH_SECONDS


def device() -> str:
    """The torch device a worker trains on: "auto" (CUDA when visible, else CPU), "cpu" or "cuda"."""
    return settings.RUN_DEVICE


def base_models_root() -> Path:
    """Where base weights live (a read-only volume on GPU machines); base model paths must be under it."""
    return Path(settings.BASE_MODELS_ROOT)


def runs_root() -> Path:
    return Path(settings.RUNS_ROOT)


def latent_cache_dir() -> Path:
    """VAE latents and text embeddings of training videos, shared by alignment runs (keyed by model)."""
    return Path(settings.LATENT_CACHE_DIR)


def launcher() -> str:
    """The command that starts a multi-GPU run (see services/distributed.py): ``{python}`` is this interpreter,
    ``{n}`` the process count. E.g. ``accelerate launch --multi_gpu --num_processes {n} -m rewardlab.child``."""
    return settings.RUN_LAUNCHER
