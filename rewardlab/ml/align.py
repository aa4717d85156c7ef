"""Align a rectified-flow video model with human preferences: Flow-DPO or Flow-RWR on LoRA.

    pairs (dataset version)  ->  decided pairs for one dimension or a weighted sum (ties dropped),
                                 optionally relabelled / scored by a VideoReward
    videos, prompts          ->  VAE latents + text embeddings, cached on disk (latent_cache.py)
    transformer              ->  frozen, with a LoRA adapter on its attention projections (lora.py)
    each step                ->  Flow-DPO: winner and loser share noise and σ; reference = adapter off
                                 Flow-RWR: flow matching weighted by softmax(reward / τ) over the batch
    output_dir               ->  adapter/ (pipe.load_lora_weights), checkpoint/ (resumable), metrics.json
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from rewardlab.ml.configs import AlignConfig
from rewardlab.ml.data import PreferencePair, load_pairs
from rewardlab.ml.flow_dpo import FlowDPOOutput, flow_dpo_loss
from rewardlab.ml.flow_matching import add_noise, per_sample_mse, sample_sigmas, velocity_target
from rewardlab.ml.flow_rwr import flow_rwr_loss, rwr_weights
from rewardlab.ml.folders import recover_folder, swap_in
from rewardlab.ml.latent_cache import LatentCache, latent_cache, latent_shape, load_latents, load_tensor
from rewardlab.ml.lora import add_lora, load_lora_state, lora_parameters_are_finite, reference_mode, save_lora
from rewardlab.ml.pipelines import FlowPipeline, load_flow_pipeline

ADAPTER_DIR = "adapter"
CHECKPOINT_DIR = "checkpoint"

# Settings a resumed run must share with the checkpoint it resumes.
_RESUME_KEYS = ("method", "base_model_path", "pairs_file", "dimension", "weights", "lora_r", "lora_alpha",
                "batch_size", "seed", "relabel", "reward_checkpoint")


class NoDecidedPairsError(ValueError):
    """Nothing to learn from: every pair is a tie or unlabelled for the chosen dimension."""


class NonFiniteLossError(FloatingPointError):
    """The loss or its gradient became NaN/inf; the run stopped and kept its last good checkpoint."""


# -- examples -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DPOExample:
    prompt: str
    winner: Path
    loser: Path
    pair_id: str


@dataclass(frozen=True)
class RWRExample:
    prompt: str
    video: Path
    reward: float


_SIGN = {"A": 1.0, "B": -1.0}


def preference(labels: dict[str, str | None], weights: dict[str, float]) -> float:
    """> 0: A preferred, < 0: B preferred, 0: tie or unlabelled, under a weighted vote of the dimensions."""
    return sum(w * _SIGN.get(labels.get(dim), 0.0) for dim, w in weights.items())


def weighted_reward(scores: dict[str, float], weights: dict[str, float]) -> float:
    missing = set(weights) - set(scores)
    if missing:
        raise ValueError(f"the VideoReward gives {sorted(scores)}; it has no {sorted(missing)}")
    return sum(w * scores[dim] for dim, w in weights.items())


def decided_pairs(
    pairs: list[PreferencePair], weights: dict[str, float], *, source: str = "pairs"
) -> list[DPOExample]:
    """Winner/loser pairs under the weighted labels; ties and unlabelled pairs are dropped."""
    known = {dim for p in pairs for dim in p.labels}
    unknown = set(weights) - known
    if pairs and unknown:
        raise NoDecidedPairsError(f"{source}: no labels for {sorted(unknown)}; the pairs have {sorted(known)}")
    examples = []
    for p in pairs:
        s = preference(p.labels, weights)
        if s != 0:
            winner, loser = (p.path_a, p.path_b) if s > 0 else (p.path_b, p.path_a)
            examples.append(DPOExample(p.prompt, winner, loser, p.pair_id))
    if not examples:
        raise NoDecidedPairsError(
            f"{source}: none of its {len(pairs)} pairs is decided for {weights} (all ties or unlabelled); "
            "choose another dimension or collect more judgments"
        )
    return examples


def relabel(pair: PreferencePair, scores: dict[Path, dict[str, float]], weights: dict[str, float]) -> PreferencePair:
    """The pair with one label, ``"reward"``, from the VideoReward's weighted scores of its two videos."""
    s = weighted_reward(scores[pair.path_a], weights) - weighted_reward(scores[pair.path_b], weights)
    label = "A" if s > 0 else "B" if s < 0 else "tie"
    return PreferencePair(pair.prompt, pair.path_a, pair.path_b, {"reward": label}, pair.split, pair.pair_id)


def score_videos(config: AlignConfig, videos: dict[Path, str]) -> dict[Path, dict[str, float]]:
    """VideoReward scores of each video (path -> prompt); the scorer is freed before the video model loads."""
    from rewardlab.ml.reward_model import VideoRewardScorer

    scorer = VideoRewardScorer.from_checkpoint(
        config.reward_checkpoint, base_model_path=config.reward_base_model_path, device=config.device
    )
    scores = {path: scorer.score(prompt, str(path)) for path, prompt in videos.items()}
    del scorer
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return scores


def build_examples(config: AlignConfig) -> list[DPOExample] | list[RWRExample]:
    pairs = load_pairs(config.pairs_file, video_root=config.video_root, split=config.split)
    weights = config.dimension_weights()
    videos = {p.path_a: p.prompt for p in pairs} | {p.path_b: p.prompt for p in pairs}
    needs_scores = config.reward_checkpoint and (config.relabel or config.method == "flow_rwr")
    scores = score_videos(config, videos) if needs_scores else {}
    if config.method == "flow_dpo":
        if config.relabel:
            pairs = [relabel(p, scores, weights) for p in pairs]
            return decided_pairs(pairs, {"reward": 1.0}, source=f"{config.pairs_file} relabelled by the VideoReward")
        return decided_pairs(pairs, weights, source=config.pairs_file)
    rewards = {Path(k).resolve(): v for k, v in (config.rewards or {}).items()}
    examples = []
    for path, prompt in videos.items():
        if path in scores:
            reward = weighted_reward(scores[path], weights)
        elif path.resolve() in rewards:
            reward = rewards[path.resolve()]
        else:
            raise ValueError(f"no reward for {path}: add it to rewards or set reward_checkpoint")
        examples.append(RWRExample(prompt, path, float(reward)))
    if not examples:
        raise NoDecidedPairsError(f"{config.pairs_file}: no videos")
    return examples


# -- cached tensors for training ------------------------------------------------------------------------

@dataclass(frozen=True)
class CachedExample:
    text: Path  # cached prompt embedding
    videos: tuple[Path, ...]  # (winner, loser) for DPO, (video,) for RWR
    shape: tuple[int, ...]  # latent shape shared by the videos (C, F, h, w)
    reward: float = 0.0  # RWR
    labels: torch.Tensor | None = None  # Flow-NRG: per-dimension label codes (losses.encode_labels)


def cache_examples(cache: LatentCache, examples: list) -> list[CachedExample]:
    prompts = [e.prompt for e in examples]
    text = dict(zip(prompts, cache.prompt_files(prompts), strict=True))
    cached = []
    for e in examples:
        if isinstance(e, DPOExample):
            w, lo, shape = cache.pair_files(e.winner, e.loser, name=f"pair {e.pair_id}")
            cached.append(CachedExample(text[e.prompt], (w, lo), shape))
        else:
            file = cache.video_file(e.video)
            cached.append(CachedExample(text[e.prompt], (file,), latent_shape(file), e.reward))
    return cached


def micro_batches(batch: list[CachedExample], size: int) -> list[list[CachedExample]]:
    """Split a batch into same-shape chunks of at most ``size`` examples (latents stack only within a shape)."""
    by_shape: dict[tuple, list[CachedExample]] = {}
    for e in batch:
        by_shape.setdefault(e.shape, []).append(e)
    return [group[i : i + size] for group in by_shape.values() for i in range(0, len(group), size)]


# -- one optimiser step ---------------------------------------------------------------------------------

def _noised(flow: FlowPipeline, x0: torch.Tensor, config: AlignConfig, generator: torch.Generator, repeat: int):
    """Same noise and σ for each of the ``repeat`` stacked copies (DPO: winners then losers)."""
    n = x0.shape[0] // repeat
    sigma = sample_sigmas(n, mode=config.timestep_sampling, generator=generator,
                          logit_mean=config.logit_mean, logit_std=config.logit_std).repeat(repeat)
    noise = torch.randn((n, *x0.shape[1:]), generator=generator).repeat(repeat, 1, 1, 1, 1)
    x0, noise, sigma = x0.to(flow.device), noise.to(flow.device), sigma.to(flow.device)
    return add_noise(x0, noise, sigma), sigma, velocity_target(x0, noise)


def pair_batch(flow: FlowPipeline, chunk: list[CachedExample]) -> tuple[torch.Tensor, torch.Tensor]:
    """Same-shape pairs as one batch: latents (2B, C, F, h, w), winners then losers, and their prompts (2B, L, D)."""
    frames = chunk[0].shape[1]
    winners = load_latents([e.videos[0] for e in chunk], frames)
    x0 = torch.cat([winners, load_latents([e.videos[1] for e in chunk], frames)])
    return x0, flow.text_batch([load_tensor(e.text) for e in chunk]).repeat(2, 1, 1)


def dpo_outputs(flow: FlowPipeline, chunk: list[CachedExample], config: AlignConfig,
                generator: torch.Generator) -> FlowDPOOutput:
    """Flow-DPO on same-shape pairs: winners and losers in one forward, sharing noise and σ pairwise."""
    x0, text = pair_batch(flow, chunk)
    x_t, sigma, target = _noised(flow, x0, config, generator, repeat=2)
    with torch.no_grad(), reference_mode(flow.transformer):
        ref_err_w, ref_err_l = per_sample_mse(flow.velocity(x_t, sigma, text), target).chunk(2)
    policy_err_w, policy_err_l = per_sample_mse(flow.velocity(x_t, sigma, text), target).chunk(2)
    return flow_dpo_loss(policy_err_w, policy_err_l, ref_err_w, ref_err_l, beta=config.beta)


def dpo_step(flow: FlowPipeline, batch: list[CachedExample], config: AlignConfig, generator: torch.Generator) -> dict:
    """Accumulate the Flow-DPO gradient of one batch; returns its loss, implicit accuracy and mean margin."""
    loss, margins = 0.0, []
    for chunk in micro_batches(batch, config.micro_batch_size):
        out = dpo_outputs(flow, chunk, config, generator)
        if not torch.isfinite(out.loss):
            return {"loss": out.loss.item(), "implicit_acc": None, "margin": None}
        (out.loss * len(chunk) / len(batch)).backward()
        loss += out.loss.item() * len(chunk) / len(batch)
        margins.append(out.margin)
    margin = torch.cat(margins)
    return {"loss": loss, "implicit_acc": (margin > 0).float().mean().item(), "margin": margin.mean().item()}


def rwr_step(flow: FlowPipeline, batch: list[CachedExample], config: AlignConfig, generator: torch.Generator) -> dict:
    """Accumulate the Flow-RWR gradient of one batch; the weights are normalised over the whole batch."""
    weights = rwr_weights(torch.tensor([e.reward for e in batch]), config.rwr_tau)
    weight = dict(zip(map(id, batch), weights, strict=True))
    loss = 0.0
    for chunk in micro_batches(batch, config.micro_batch_size):
        x0 = load_latents([e.videos[0] for e in chunk], chunk[0].shape[1])
        text = flow.text_batch([load_tensor(e.text) for e in chunk])
        x_t, sigma, target = _noised(flow, x0, config, generator, repeat=1)
        errors = per_sample_mse(flow.velocity(x_t, sigma, text), target)
        chunk_loss = flow_rwr_loss(errors, torch.stack([weight[id(e)] for e in chunk]))
        if not torch.isfinite(chunk_loss):
            return {"loss": chunk_loss.item(), "implicit_acc": None, "margin": None}
        chunk_loss.backward()
        loss += chunk_loss.item()
    return {"loss": loss, "implicit_acc": None, "margin": None,
            "mean_reward": sum(e.reward for e in batch) / len(batch)}


# -- checkpoints ----------------------------------------------------------------------------------------

@dataclass
class TrainerState:
    step: int = 0  # optimiser steps completed
    history: list[dict] = field(default_factory=list)


def save_checkpoint(out: Path, flow: FlowPipeline, optimizer: torch.optim.Optimizer, state: TrainerState,
                    config: AlignConfig) -> Path:
    """Write checkpoint/ whole, then swap it in: a crash mid-save leaves the previous one intact."""
    if not lora_parameters_are_finite(flow.transformer):
        raise NonFiniteLossError(f"adapter weights are not finite at step {state.step}; {out / CHECKPOINT_DIR} is kept")
    final, tmp = out / CHECKPOINT_DIR, out / f"{CHECKPOINT_DIR}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    save_lora(type(flow.pipe), flow.transformer, tmp)
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    settings = {k: getattr(config, k) for k in _RESUME_KEYS}
    (tmp / "trainer_state.json").write_text(
        json.dumps({"step": state.step, "history": state.history, "config": settings}, indent=1)
    )
    return swap_in(tmp, final)


def load_checkpoint(
    out: Path, flow: FlowPipeline, optimizer: torch.optim.Optimizer, config: AlignConfig
) -> TrainerState:
    ckpt = out / CHECKPOINT_DIR
    saved = json.loads((ckpt / "trainer_state.json").read_text())
    wanted = {k: getattr(config, k) for k in _RESUME_KEYS}
    changed = {k for k in _RESUME_KEYS if saved["config"].get(k) != wanted[k]}
    if changed:
        raise ValueError(
            f"{ckpt} was made with other settings ({', '.join(sorted(changed))}); "
            "use a new output_dir, or resume=False to start over"
        )
    load_lora_state(flow.transformer, ckpt)
    optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=True))
    return TrainerState(step=saved["step"], history=saved["history"])


def batch_for_step(examples: list, step: int, batch_size: int, seed: int) -> list:
    """The step-th batch: a fresh permutation each epoch, so resuming at any step sees the same data."""
    steps_per_epoch = math.ceil(len(examples) / batch_size)
    epoch, index = divmod(step, steps_per_epoch)
    order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).tolist()
    return [examples[i] for i in order[index * batch_size : (index + 1) * batch_size]]


# -- the run --------------------------------------------------------------------------------------------

def run_alignment(
    config: AlignConfig,
    *,
    progress: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict:
    config.validate()
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "align_config.json").write_text(json.dumps(asdict(config), indent=1, default=str))
    if progress:
        progress({"activity": "reading the pairs and loading the generator"})
    examples = build_examples(config)

    flow = load_flow_pipeline(config.base_model_path, device=config.device, dtype=config.dtype)
    cache = latent_cache(config, flow)
    if progress:
        progress({"activity": f"encoding latents and prompts of {len(examples)} examples (cached for later runs)"})
    cached = cache_examples(cache, examples)

    torch.manual_seed(config.seed)  # the LoRA A matrices' initialisation
    params = add_lora(flow.transformer, r=config.lora_r, alpha=config.lora_alpha,
                      target_modules=flow.lora_target_modules)
    if config.gradient_checkpointing:
        flow.transformer.enable_gradient_checkpointing()
    flow.transformer.train()
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    state = TrainerState()
    recover_folder(out / CHECKPOINT_DIR)
    if config.resume and (out / CHECKPOINT_DIR / "trainer_state.json").is_file():
        state = load_checkpoint(out, flow, optimizer, config)

    total_steps = config.max_steps or config.epochs * math.ceil(len(cached) / config.batch_size)
    step_fn = dpo_step if config.method == "flow_dpo" else rwr_step
    stopped = False
    if progress:
        progress({"activity": "training"})
    while state.step < total_steps:
        if should_stop and should_stop():
            stopped = True
            break
        batch = batch_for_step(cached, state.step, config.batch_size, config.seed)
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + state.step)
        metrics = step_fn(flow, batch, config, generator)
        grad_norm = torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm).item()
        if not (math.isfinite(metrics["loss"]) and math.isfinite(grad_norm)):
            _stop_on_nan(out, config, state.step + 1, metrics["loss"], grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        state.step += 1
        record = {"step": state.step, "total_steps": total_steps, **metrics, "grad_norm": grad_norm, "lr": config.lr}
        state.history.append(record)
        if progress:
            progress(record)
        if state.step % config.checkpoint_every == 0 and state.step < total_steps:
            save_checkpoint(out, flow, optimizer, state, config)

    save_checkpoint(out, flow, optimizer, state, config)
    adapter_dir = save_lora(type(flow.pipe), flow.transformer, out / ADAPTER_DIR)
    result = {"adapter_dir": str(adapter_dir), "steps": state.step, "total_steps": total_steps,
              "history": state.history, "stopped": stopped, "num_examples": len(cached),
              "latent_cache": {"dir": str(cache.root), "hits": cache.hits, "misses": cache.misses}}
    (out / "metrics.json").write_text(json.dumps(result, indent=1))
    return result


def _stop_on_nan(out: Path, config: AlignConfig, step: int, loss: float, grad_norm: float) -> None:
    """Stop without writing anything: the checkpoint on disk is the last one saved from finite weights."""
    state_file = out / CHECKPOINT_DIR / "trainer_state.json"
    if state_file.is_file():
        kept = f"the last checkpoint (step {json.loads(state_file.read_text())['step']}) is kept in {state_file.parent}"
    else:
        kept = "no checkpoint had been saved yet"
    raise NonFiniteLossError(
        f"{config.method}: loss {loss}, gradient norm {grad_norm} at step {step}, so the run stopped and {kept}. "
        f"Lower lr (now {config.lr}) or beta (now {config.beta}), or check the data; then run again (it resumes)."
    )
