"""Train VideoReward on preference pairs: the loop written out, nanoGPT style.

    pairs (dataset-version JSONL or RewardBench CSV)
      -> micro-batches of pairs, both videos decoded in DataLoader workers, order fixed by the seed
      -> rewards for A and B -> BTT (or BT) loss per dimension -> AdamW, constant LR after warmup
      -> checkpoint folder (resumable while training) -> reward mean/std on the training set -> final checkpoint

Runs on one CPU/GPU, or on several GPUs under torchrun (DistributedDataParallel; each process takes its share
of every micro-batch). Output layout: `output_dir/checkpoint/` (see checkpoint.py) and `output_dir/result.json`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from transformers import AutoTokenizer, get_constant_schedule_with_warmup

from rewardlab.ml.checkpoint import TRAINING_STATE_FILE, load_base, load_weights, save_checkpoint
from rewardlab.ml.configs import RewardModelSettings, RewardTrainConfig
from rewardlab.ml.data import PreferencePair, load_pairs, require_video_files
from rewardlab.ml.evaluate_reward import evaluate_pairs
from rewardlab.ml.folders import recover_folder
from rewardlab.ml.losses import A_WINS, B_WINS, bt_loss, btt_loss, encode_labels
from rewardlab.ml.pipelines import resolve_device
from rewardlab.ml.reward_model import (
    LEGACY_MODE,
    RewardConfig,
    RewardInputBuilder,
    VideoRewardScorer,
    base_fingerprint,
    build_reward_model,
)

RESULT_FILE = "result.json"


# Settings that may change between a stopped run and its resumption without changing its result.
RESUMABLE_CHANGES = {"base_model_path", "train_file", "val_file", "video_root", "output_dir", "device", "resume",
                     "save_every", "num_workers", "frame_cache_dir"}


# --- data -------------------------------------------------------------------------------------------------------

def load_training_pairs(path: str, *, split: str | None, dimensions: list[str], video_root: str | None,
                        require_decided: bool) -> list[PreferencePair]:
    """Pairs with at least one label among `dimensions`; every video file must exist."""
    pairs = load_pairs(path, split=split, video_root=video_root)
    pairs = [p for p in pairs if any(p.labels.get(d) is not None for d in dimensions)]
    where = f"{path}" + (f" (split {split!r})" if split and str(path).endswith(".jsonl") else "")
    if not pairs:
        raise ValueError(f"{where}: no pairs with labels for {dimensions}")
    if require_decided:
        for d in dimensions:
            if not any(p.labels.get(d) in ("A", "B") for p in pairs):
                raise ValueError(f"{where}: no decided (A or B) pairs for dimension {d!r}; "
                                 "label some pairs or leave the dimension out")
    require_video_files(pairs, where)
    return pairs


def pair_order(n_pairs: int, n_needed: int, seed: int) -> list[int]:
    """Pair indices for the whole run: one seeded permutation per epoch, concatenated."""
    order: list[int] = []
    epoch = 0
    while len(order) < n_needed:
        order += torch.randperm(n_pairs, generator=torch.Generator().manual_seed(seed + epoch)).tolist()
        epoch += 1
    return order[:n_needed]


class MicroBatches(Dataset):
    """Item k = micro-batch k of this process: its pairs' A and B videos encoded and padded, and the labels."""

    def __init__(self, pairs: list[PreferencePair], order: list[int], inputs: RewardInputBuilder,
                 dimensions: list[str], batch_size: int, rank: int, world: int):
        self.pairs, self.order, self.inputs, self.dimensions = pairs, order, inputs, dimensions
        self.batch_size, self.rank, self.world = batch_size, rank, world

    def __len__(self) -> int:
        return len(self.order) // (self.batch_size * self.world)

    def __getitem__(self, k: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        start = (k * self.world + self.rank) * self.batch_size
        pairs = [self.pairs[i] for i in self.order[start:start + self.batch_size]]
        items = [self.inputs.encode(p.prompt, p.path_a) for p in pairs] + \
                [self.inputs.encode(p.prompt, p.path_b) for p in pairs]
        return self.inputs.collate(items), encode_labels([p.labels for p in pairs], self.dimensions)


# --- helpers ----------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _distributed(device: str) -> Iterator[tuple[int, int, torch.device]]:
    """(rank, world size, device); under torchrun, joins the process group and takes this process's GPU.

    The group is destroyed on the way out: left to interpreter exit, gloo's threads abort the process.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        yield 0, 1, resolve_device(device)
        return
    local_rank = int(os.environ["LOCAL_RANK"])
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    owned = not dist.is_initialized()
    if owned:
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    try:
        yield dist.get_rank(), world, torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() \
            else torch.device("cpu")
    finally:
        if owned:
            dist.destroy_process_group()


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _step_accuracy(rewards_a: torch.Tensor, rewards_b: torch.Tensor, labels: torch.Tensor,
                   dimensions: list[str]) -> dict[str, float | None]:
    """Per dimension, the share of decided pairs the model orders like the label (None when none is decided)."""
    acc = {}
    for j, d in enumerate(dimensions):
        decided = (labels[:, j] == A_WINS) | (labels[:, j] == B_WINS)
        sign = torch.sign(rewards_a[:, j] - rewards_b[:, j])[decided]
        acc[d] = float((sign == labels[decided, j]).float().mean()) if decided.any() else None
    return acc


@torch.no_grad()
def reward_statistics(scorer: VideoRewardScorer, pairs: list[PreferencePair], *, batch_size: int,
                      rank: int = 0, world: int = 1) -> dict[str, dict[str, float]]:
    """Mean and std of each dimension's raw reward over the distinct training videos (for normalisation)."""
    videos = sorted({(p.prompt, str(v)) for p in pairs for v in (p.path_a, p.path_b)})[rank::world]
    rewards = [[s[d] for d in scorer.dimensions] for s in scorer.score_many(videos, batch_size=batch_size,
                                                                           normalize=False)]
    rewards = torch.tensor(rewards, dtype=torch.float64).reshape(-1, len(scorer.dimensions))
    sums = torch.stack([torch.full((len(scorer.dimensions),), float(len(rewards)), dtype=torch.float64),
                        rewards.sum(0), (rewards ** 2).sum(0)])
    if world > 1:
        sums = sums.to(scorer.device)
        dist.all_reduce(sums)
        sums = sums.cpu()
    count, total, total_sq = sums
    mean = total / count
    std = (total_sq / count - mean ** 2).clamp(min=0).sqrt()
    return {d: {"mean": float(mean[j]), "std": float(std[j]) if std[j] > 1e-8 else 1.0}
            for j, d in enumerate(scorer.dimensions)}


def _check_resumable(saved: dict, config: RewardTrainConfig, folder: Path) -> None:
    saved = LEGACY_MODE | saved  # runs started before the mode fields trained in the legacy mode
    changed = [k for k, v in asdict(config).items() if k not in RESUMABLE_CHANGES and saved.get(k) != v]
    if changed:
        k = changed[0]
        raise ValueError(f"{folder}: holds a run with {k}={saved.get(k)!r}, this config has {k}="
                         f"{getattr(config, k)!r}; use another output_dir, or resume=False to start over")


def train_step(net: torch.nn.Module, batches: Iterator, *, optimizer: torch.optim.Optimizer, scheduler,
               params: list[torch.nn.Parameter], loss_fn: Callable, grad_accum: int = 1, max_grad_norm: float = 1.0,
               device: torch.device, autocast_dtype: torch.dtype | None = None):
    """One optimizer step over `grad_accum` micro-batches from `batches`; each micro-batch is (inputs for its
    A videos then its B videos, labels). Returns (mean loss, rewards A, rewards B, labels) of the step."""
    losses, all_a, all_b, all_labels = [], [], [], []
    distributed = isinstance(net, DistributedDataParallel)
    for micro in range(grad_accum):
        batch, labels = next(batches)
        batch = {k: v.to(device) for k, v in batch.items()}
        labels = labels.to(device)
        # gradients are averaged across processes only on the last micro-batch of the step
        sync = net.no_sync() if distributed and micro < grad_accum - 1 else contextlib.nullcontext()
        with sync:
            with torch.autocast(device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
                rewards_a, rewards_b = net(**batch).float().chunk(2)  # (B, D) each
            loss = loss_fn(rewards_a, rewards_b, labels)
            (loss / grad_accum).backward()
        losses.append(loss.detach())
        all_a.append(rewards_a.detach())
        all_b.append(rewards_b.detach())
        all_labels.append(labels)
    torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return torch.stack(losses).mean(), torch.cat(all_a), torch.cat(all_b), torch.cat(all_labels)


# --- the loop ---------------------------------------------------------------------------------------------------

def train_reward(config: RewardTrainConfig, *, progress: Callable[[dict], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> dict:
    """Train, or resume, a reward model; returns {"checkpoint", "steps", "history", "norm", "val", "stopped"}.

    `progress(record)` follows every optimizer step with {"step", "total_steps", "epoch", "loss", "acc", "lr"}.
    When `should_stop()` turns true, the run saves a resumable checkpoint at the next step boundary and
    returns with "stopped": True; calling again with the same config and output_dir continues it.
    """
    out = Path(config.output_dir)
    ckpt_dir = recover_folder(out / "checkpoint")
    if config.resume and (out / RESULT_FILE).exists():
        return json.loads((out / RESULT_FILE).read_text())  # finished already
    (out / RESULT_FILE).unlink(missing_ok=True)
    with _distributed(config.device) as (rank, world, device):
        return _train(config, out, ckpt_dir, rank, world, device, progress, should_stop)


@dataclass
class _Training:
    """What one process trains with: built by _setup, moved on by _step, written by _checkpoint."""

    config: RewardTrainConfig
    out: Path
    ckpt_dir: Path
    rank: int
    world: int
    device: torch.device
    train_pairs: list[PreferencePair]
    val_pairs: list[PreferencePair]
    model: torch.nn.Module
    tokenizer: object
    spec: object
    reward_config: RewardConfig
    trainable: list[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    scheduler: object
    pairs_per_step: int
    total_steps: int
    autocast_dtype: torch.dtype | None
    step: int = 0
    history: list[dict] = field(default_factory=list)
    net: torch.nn.Module | None = None  # the model, or its DistributedDataParallel wrapper
    batches: Iterator | None = None
    loss_fn: Callable | None = None

    @property
    def master(self) -> bool:
        return self.rank == 0


def _train(config: RewardTrainConfig, out: Path, ckpt_dir: Path, rank: int, world: int, device: torch.device,
           progress: Callable[[dict], None] | None, should_stop: Callable[[], bool] | None) -> dict:
    if progress and rank == 0:
        progress({"activity": "loading the base model"})
    t = _setup(config, out, ckpt_dir, rank, world, device)
    _resume(t)
    _start_batches(t)
    t.model.train()
    if progress and t.master:
        progress({"activity": "training"})
    while t.step < t.total_steps:
        if _stop_requested(t, should_stop):
            _checkpoint(t)
            return {"checkpoint": str(ckpt_dir), "steps": t.step, "history": t.history, "norm": None, "val": None,
                    "stopped": True}
        record = _step(t)
        if progress and t.master:
            progress(record)
        if config.save_every and t.step % config.save_every == 0 and t.step < t.total_steps:
            _checkpoint(t)
    return _finish(t)


def _setup(config: RewardTrainConfig, out: Path, ckpt_dir: Path, rank: int, world: int,
           device: torch.device) -> _Training:
    """The pairs, the model (seeded, so a resumed run builds the same one before loading its weights), AdamW and
    the warmup schedule."""
    autocast_dtype = {"auto": torch.bfloat16 if device.type == "cuda" else None, "bf16": torch.bfloat16,
                      "fp32": None}[config.dtype]
    checkpointing = config.gradient_checkpointing if config.gradient_checkpointing is not None \
        else device.type == "cuda"

    train_pairs = load_training_pairs(config.train_file, split=config.train_split, dimensions=config.dimensions,
                                      video_root=config.video_root, require_decided=True)
    val_pairs = load_training_pairs(config.val_file, split=config.val_split, dimensions=config.dimensions,
                                    video_root=config.video_root, require_decided=False) if config.val_file else []

    torch.manual_seed(config.seed)
    vlm, spec = load_base(config.base_model_path)
    tokenizer = AutoTokenizer.from_pretrained(config.base_model_path)
    reward_config = RewardConfig(
        dimensions=list(config.dimensions), base_model_path=str(Path(config.base_model_path).resolve()),
        base_config=base_fingerprint(vlm.config),
        **{f.name: getattr(config, f.name) for f in fields(RewardModelSettings)},
    )
    model = build_reward_model(vlm, tokenizer, reward_config)
    if config.init_checkpoint:  # a warm start; a resumed run then loads its own checkpoint over these weights
        load_weights(model, config.init_checkpoint, reward_config)
    if checkpointing:
        model.enable_activation_checkpointing()
    model.to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)

    pairs_per_step = config.batch_size * config.grad_accum * world
    steps_per_epoch = math.ceil(len(train_pairs) / pairs_per_step)
    total_steps = config.max_steps or config.epochs * steps_per_epoch
    scheduler = get_constant_schedule_with_warmup(optimizer, math.ceil(config.warmup_ratio * total_steps))
    return _Training(config=config, out=out, ckpt_dir=ckpt_dir, rank=rank, world=world, device=device,
                     train_pairs=train_pairs, val_pairs=val_pairs, model=model, tokenizer=tokenizer, spec=spec,
                     reward_config=reward_config, trainable=trainable, optimizer=optimizer, scheduler=scheduler,
                     pairs_per_step=pairs_per_step, total_steps=total_steps, autocast_dtype=autocast_dtype)


def _resume(t: _Training) -> None:
    """Continue from the checkpoint's training state (weights, optimizer, schedule, step, RNG) if resuming one;
    otherwise seed this process (dropout differs between processes)."""
    config, ckpt_dir = t.config, t.ckpt_dir
    if not (config.resume and (ckpt_dir / TRAINING_STATE_FILE).exists()):
        torch.manual_seed(config.seed + t.rank)
        return
    state = torch.load(ckpt_dir / TRAINING_STATE_FILE, weights_only=False)
    _check_resumable(state["config"], config, ckpt_dir)
    if state["world"] != t.world:
        raise ValueError(f"{ckpt_dir}: the run used {state['world']} processes, this one has {t.world}; "
                         "resume it with as many (the data order depends on it)")
    load_weights(t.model, ckpt_dir, t.reward_config)
    t.optimizer.load_state_dict(state["optimizer"])
    t.scheduler.load_state_dict(state["scheduler"])
    t.step, t.history = state["step"], state["history"]
    _set_rng_state(state["rng"][t.rank])


def _start_batches(t: _Training) -> None:
    """The micro-batches from the current step on (the order is fixed by the seed), the network that sees them
    (DDP across processes) and the loss."""
    config = t.config
    inputs = RewardInputBuilder(t.tokenizer, t.reward_config, t.spec, cache_dir=config.frame_cache_dir)
    order = pair_order(len(t.train_pairs), t.total_steps * t.pairs_per_step, config.seed)
    micro_batches = MicroBatches(t.train_pairs, order, inputs, config.dimensions, config.batch_size, t.rank, t.world)
    loader = DataLoader(micro_batches, batch_size=None, sampler=range(t.step * config.grad_accum, len(micro_batches)),
                        num_workers=config.num_workers, generator=torch.Generator().manual_seed(config.seed))
    t.batches = iter(loader)
    t.net = DistributedDataParallel(t.model, device_ids=[t.device.index] if t.device.type == "cuda" else None) \
        if t.world > 1 else t.model
    t.loss_fn = partial(btt_loss, theta=config.theta) if config.loss == "btt" else bt_loss


def _stop_requested(t: _Training, should_stop: Callable[[], bool] | None) -> bool:
    """Rank 0 asks; every rank gets the same answer, so all stop at the same step."""
    flag = torch.tensor([bool(should_stop and t.master and should_stop())], dtype=torch.int32, device=t.device)
    if t.world > 1:
        dist.broadcast(flag, src=0)
    return bool(flag.item())


def _step(t: _Training) -> dict:
    """One optimizer step; returns its record (loss averaged over processes, accuracy on this process's pairs)."""
    config = t.config
    lr = t.scheduler.get_last_lr()[0]
    loss_value, rewards_a, rewards_b, labels = train_step(
        t.net, t.batches, optimizer=t.optimizer, scheduler=t.scheduler, params=t.trainable, loss_fn=t.loss_fn,
        grad_accum=config.grad_accum, max_grad_norm=config.max_grad_norm, device=t.device,
        autocast_dtype=t.autocast_dtype)
    t.step += 1

    if t.world > 1:
        dist.all_reduce(loss_value)
        loss_value /= t.world
    record = {
        "step": t.step, "total_steps": t.total_steps, "epoch": t.step * t.pairs_per_step / len(t.train_pairs),
        "loss": float(loss_value), "lr": lr,
        "acc": _step_accuracy(rewards_a, rewards_b, labels, config.dimensions),
    }
    t.history.append(record)
    return record


def _checkpoint(t: _Training, final_norm=None) -> None:
    """Checkpoint with training state (resumable), or without it and with the norm (final)."""
    rng = [None] * t.world
    if t.world > 1:
        dist.all_gather_object(rng, _rng_state())
    else:
        rng = [_rng_state()]
    if t.master:
        t.reward_config.norm = final_norm
        training_state = None if final_norm else {
            "step": t.step, "history": t.history, "config": asdict(t.config), "rng": rng, "world": t.world,
            "optimizer": t.optimizer.state_dict(), "scheduler": t.scheduler.state_dict()}
        save_checkpoint(t.ckpt_dir, t.model, t.tokenizer, t.reward_config, training_state=training_state)
    if t.world > 1:
        dist.barrier()


def _finish(t: _Training) -> dict:
    """Normalisation statistics on the training pairs and validation, with dropout off; the final checkpoint and
    result.json."""
    config = t.config
    scorer = VideoRewardScorer(t.model, t.tokenizer, t.reward_config, spec=t.spec, device=t.device,
                               cache_dir=config.frame_cache_dir)
    norm = reward_statistics(scorer, t.train_pairs, batch_size=2 * config.batch_size, rank=t.rank, world=t.world)
    t.reward_config.norm = norm
    val = None
    if t.val_pairs and t.master:
        val = evaluate_pairs(scorer, t.val_pairs, batch_size=2 * config.batch_size)
    _checkpoint(t, final_norm=norm)
    result = {"checkpoint": str(t.ckpt_dir), "steps": t.step, "history": t.history, "norm": norm, "val": val,
              "stopped": False}
    if t.master:
        (t.out / RESULT_FILE).write_text(json.dumps(result, indent=2))
    return result
