"""Fixtures for the ML tests: a tiny Qwen2-VL base, small synthetic clips, frugal threads."""

import subprocess
from contextlib import contextmanager

import pytest
import torch

from rewardlab.ml.tiny_qwen import make_tiny_reward_base


@contextmanager
def one_cpu_thread():
    """Also for module-scoped fixtures, which run before the per-test ``one_thread``: the cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def one_thread():
    """The test machine's two cores are shared: one thread per test process is fastest overall."""
    with one_cpu_thread():
        yield


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory):
    return make_tiny_reward_base(tmp_path_factory.mktemp("tiny_base"))


def ffmpeg_clip(path, *, frames: int, size: str = "64x48", rate: int = 8, extra: str = "") -> str:
    """A testsrc2 clip of exactly `frames` frames."""
    source = f"testsrc2=size={size}:rate={rate}" + (f",{extra}" if extra else "")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source, "-frames:v", str(frames),
                    "-pix_fmt", "yuv420p", "-c:v", "libx264", str(path)], check=True)
    return str(path)
