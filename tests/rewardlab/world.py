"""A project as a reward run finds it: real synthetic clips in media storage, pairs, judgments, an exported
dataset version (the real export), and tiny base models under BASE_MODELS_ROOT."""

from __future__ import annotations

from dataclasses import dataclass
from io import StringIO
from pathlib import Path

from django.conf import settings
from django.core.management import call_command

from annotation import storage
from annotation.models import DatasetVersion, Project
from annotation.services.exports import dataset_version_create, dataset_version_export
from annotation.services.ingest import generation_model_get_or_create, prompt_get_or_create
from annotation.synthetic_videos import DEMO_MODELS, make_clip
from rewardlab import conf
from rewardlab.models import Run
from tests.conftest import client_for, make_user, wait_until
from tests.factories import ImportedJudgmentFactory, PairFactory, ProjectFactory, VideoFactory

PROMPTS = ["a test card with a ticking clock", "a glowing fractal coastline", "golden cells swarming", "a busy test pattern"]
CONTENT = ["testsrc2", "mandelbrot", "life", "testsrc2"]
MODELS = ("crisp-v2", "grainy-v1")
CLIP = {"seconds": 1.0, "fps": 4, "width": 112, "height": 56}

# Runs in the run tests go to this queue, which only their own workers consume: a test can kill its worker without
# touching the session's shared one.
QUEUE = "gpu-rewardlab-tests"

# A worker for tests: fast heartbeats and progress writes, one CPU thread (the machine is shared).
WORKER_ENV = {"RUN_HEARTBEAT_SECONDS": "0.2", "RUN_PROGRESS_FLUSH_SECONDS": "0.1", "RUN_STALE_AFTER_SECONDS": "5",
              "RUN_DEVICE": "cpu", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# Small enough for a CPU test: a few steps of a LoRA-8 tiny Qwen2-VL on 112x56 frames.
TINY_REWARD_SETTINGS = {"max_steps": 3, "batch_size": 2, "lr": 1e-3, "lora_r": 8, "lora_alpha": 16, "max_pixels": 56 * 112,
                        "min_pixels": 56 * 112, "save_every": 1}


def tiny_reward_base() -> Path:
    """A tiny Qwen2-VL base under BASE_MODELS_ROOT (made once per test session's data folder)."""
    call_command("make_tiny_models", stdout=StringIO())
    return conf.base_models_root() / "tiny-qwen2-vl"


def tiny_generator() -> Path:
    """A tiny Wan 2.1 text-to-video pipeline under BASE_MODELS_ROOT."""
    call_command("make_tiny_models", stdout=StringIO())
    return conf.base_models_root() / "tiny-wan"


def clips(models: tuple[str, ...]) -> list[tuple[int, str, Path]]:
    """(prompt index, model, clip) for every video, made once per test session."""
    folder = Path(settings.DATA_DIR) / "rewardlab-clips"
    made = []
    for i, content in enumerate(CONTENT):
        for model in models:
            path = folder / f"{i}-{model}.mp4"
            if not path.is_file():
                style = {k: v for k, v in DEMO_MODELS[model].items() if k != "content"}
                make_clip(path, content=content, seed=i, **CLIP, **style)
            made.append((i, model, path))
    return made


def build_project(*, name: str = "Runs", extra_models: tuple[str, ...] = ()) -> Project:
    """Four prompts x two demo models, ready (stored as ingest stores them, without the transcode, which is not
    what these tests are about); one pair per prompt with one imported vote (as a RewardBench import writes it):
    crisp wins every dimension but text alignment (a tie). ``extra_models`` add unpaired videos of each prompt."""
    project = ProjectFactory(name=name)
    videos = {}
    for i, model, path in clips(MODELS + extra_models):
        sha256 = storage.sha256_file(path)
        key = storage.content_key(sha256, "playback.mp4")
        storage.put_file(path, key)
        videos[i, model] = VideoFactory(
            project=project, original_name="", prompt=prompt_get_or_create(project=project, text=PROMPTS[i]), status="ready", source="generated",
            generation_model=generation_model_get_or_create(project=project, name=model), seed=i, original=key, playback=key,
            sha256=sha256, size_bytes=path.stat().st_size, fps=CLIP["fps"], num_frames=int(CLIP["fps"] * CLIP["seconds"]),
            duration_s=CLIP["seconds"], width=CLIP["width"], height=CLIP["height"], codec="h264")
    for i in range(len(PROMPTS)):
        crisp, grainy = videos[i, MODELS[0]], videos[i, MODELS[1]]
        a, b = (crisp, grainy) if i % 2 else (grainy, crisp)  # crisp is A in half of the pairs
        pair = PairFactory(project=project, prompt=a.prompt, video_a=a, video_b=b, strategy="all")
        winner = "A" if a == crisp else "B"
        ImportedJudgmentFactory(pair=pair, choices={"vq": winner, "mq": winner, "ta": "tie", "overall": winner})
    return project


def export_version(project: Project) -> DatasetVersion:
    """Half the prompts train, half test (by prompt, as every export splits)."""
    version = dataset_version_create(project=project, created_by=None, formats=["jsonl"], splits={"train": 0.5, "test": 0.5},
                                     enqueue=False)
    return dataset_version_export(version_id=version.pk)


@dataclass
class Trainable:
    project: Project
    version: DatasetVersion
    base: Path


# ---- following a run on a worker --------------------------------------------------------------------------------

def start_reward_run(trained_on, **settings) -> int:
    admin = make_user("admin-runs", staff=True)
    response = client_for(admin).post("/api/v1/reward-runs/", {
        "dataset_version": trained_on.version.pk, "base_model_path": str(trained_on.base), "name": "tiny",
        "dimensions": ["vq", "mq"], "hyperparameters": {**TINY_REWARD_SETTINGS, **settings},
    }, format="json")
    assert response.status_code == 202, response.json()
    return response.json()["id"]


def run_in(run_id: int, *statuses: str):
    return wait_until(lambda: Run.objects.filter(pk=run_id, status__in=statuses).first(), timeout=120)


def at_step(run_id: int, step: int) -> Run:
    return wait_until(lambda: Run.objects.filter(pk=run_id, status="running", phase="train", step__gte=step).first(), timeout=120)
