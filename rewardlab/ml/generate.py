"""Sample videos from a rectified-flow pipeline: base, aligned (a LoRA adapter) and/or Flow-NRG guided.

The sampling loop is ``WanPipeline.__call__``'s, written out so Flow-NRG can correct the velocity between
the model and the scheduler; with no guidance it gives the pipeline's own latents for the same noise.
Every (prompt, seed) gets its own CPU generator, so a seed means the same starting noise on any device
and for every model compared.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import av
import torch

from rewardlab.ml.configs import GenerateConfig
from rewardlab.ml.flow_nrg import LatentRewardModel, dimension_weights, guided_velocity, reward_gradient
from rewardlab.ml.lora import LORA_WEIGHTS
from rewardlab.ml.pipelines import FlowPipeline, VideoSizeError, load_flow_pipeline

# (latents x_t, σ, prompt text, velocity) -> corrected velocity
VelocityCorrection = Callable[[torch.Tensor, float, torch.Tensor, torch.Tensor], torch.Tensor]


def check_video_size(flow: FlowPipeline, num_frames: int, height: int, width: int) -> None:
    problems = flow.size_rules.problems(num_frames=num_frames, height=height, width=width)
    if problems:
        raise VideoSizeError("; ".join(f"{name} {problem}" for name, problem in problems.items()))


@torch.no_grad()
def sample_latents(
    flow: FlowPipeline, text: torch.Tensor, noise: torch.Tensor, *, steps: int, guidance_scale: float = 1.0,
    negative_text: torch.Tensor | None = None, correction: VelocityCorrection | None = None,
) -> torch.Tensor:
    """Integrate the flow from noise (σ = 1) to latents (σ = 0) with the pipeline's scheduler.

    ``correction`` (Flow-NRG) adjusts the velocity at every step but the last.
    """
    scheduler = flow.scheduler
    scheduler.set_timesteps(steps, device=flow.device)
    scheduler.set_begin_index(0)
    latents = noise.to(flow.device, torch.float32)
    batch = latents.shape[0]
    for i, t in enumerate(scheduler.timesteps):
        sigma_model = (t / flow.num_train_timesteps).expand(batch)  # what the pipeline feeds: timestep t
        v = flow.velocity(latents, sigma_model, text)
        if guidance_scale > 1.0:
            v_uncond = flow.velocity(latents, sigma_model, negative_text)
            v = v_uncond + guidance_scale * (v - v_uncond)
        if correction is not None and i < len(scheduler.timesteps) - 1:
            v = correction(latents, float(scheduler.sigmas[i]), text, v)
        latents = scheduler.step(v, t, latents, return_dict=False)[0]
    return latents


def nrg_correction(model: LatentRewardModel, weights: dict[str, float] | None, *, scale: float,
                   max_factor: float) -> VelocityCorrection:
    lam = dimension_weights(model, weights)

    def correct(x_t: torch.Tensor, sigma: float, text: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        sigmas = torch.full((x_t.shape[0],), sigma)
        grad = reward_gradient(model, x_t, sigmas, text, lam)
        return guided_velocity(v, grad, sigma, scale=scale, max_factor=max_factor)

    return correct


def write_video(frames: torch.Tensor, path: str | Path, *, fps: int = 16) -> Path:
    """uint8 frames (T, H, W, 3) -> H.264 yuv420p MP4 via PyAV."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1], frames.shape[2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18"}
        for frame in frames.numpy():
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def _slug(text: str, length: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:length] or "prompt"


def generate_videos(config: GenerateConfig, *, progress: Callable[[dict], None] | None = None) -> list[dict]:
    """Sample every prompt with every seed; returns [{"prompt", "seed", "path", "model"}] in that order."""
    if not config.prompts or not config.seeds:
        raise ValueError("give at least one prompt and one seed")
    if progress:
        progress({"activity": "loading the generator"})
    flow = load_flow_pipeline(config.base_model_path, device=config.device, dtype=config.dtype)
    check_video_size(flow, config.num_frames, config.height, config.width)
    if config.adapter_dir:
        if not (Path(config.adapter_dir) / LORA_WEIGHTS).is_file():
            raise FileNotFoundError(f"{config.adapter_dir} has no {LORA_WEIGHTS}; pass an alignment run's adapter/")
        flow.pipe.load_lora_weights(config.adapter_dir)
    correction = None
    if config.nrg_checkpoint:
        reward_model = LatentRewardModel.load(config.nrg_checkpoint, flow).eval()
        correction = nrg_correction(reward_model, config.nrg_weights, scale=config.nrg_scale,
                                    max_factor=config.nrg_max_factor)
    model_name = config.model_name or ("aligned" if config.adapter_dir else "base") + ("+nrg" if correction else "")
    out = Path(config.output_dir) / _slug(model_name)

    if progress:
        progress({"activity": f"sampling {model_name}"})
    texts = flow.encode_prompts(list(config.prompts))
    negative = flow.encode_prompts([config.negative_prompt])[0] if config.guidance_scale > 1.0 else None
    shape = flow.latent_shape(config.num_frames, config.height, config.width)
    results, total = [], len(config.prompts) * len(config.seeds)
    for p_index, (prompt, text) in enumerate(zip(config.prompts, texts, strict=True)):
        for seed in config.seeds:
            noise = torch.randn((1, *shape), generator=torch.Generator().manual_seed(seed))
            latents = sample_latents(
                flow, flow.text_batch([text]), noise, steps=config.steps, guidance_scale=config.guidance_scale,
                negative_text=flow.text_batch([negative]) if negative is not None else None, correction=correction,
            )
            path = write_video(flow.decode_latents(latents)[0], out / f"{p_index:04d}-{_slug(prompt)}-seed{seed}.mp4",
                               fps=config.fps)
            results.append({"prompt": prompt, "seed": seed, "path": str(path), "model": model_name})
            if progress:
                progress({"done": len(results), "total": total, **results[-1]})
    return results
