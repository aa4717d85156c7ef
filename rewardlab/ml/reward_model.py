"""VideoReward: Qwen2-VL reading a video and a prompt, one reward per dimension (VideoAlign §3.2).

In the order data flows:

    RewardConfig          what a checkpoint is: dimensions, video sampling, LoRA, normalisation, and the mode it
                          reads inputs in (reward_config.json)
    build_user_text       the prompt: video first, then one question per dimension, each ending in its reward token
    RewardInputBuilder    (prompt, video file) -> token ids + Qwen2-VL patches; collate() pads a batch
    VideoRewardModel      Qwen2-VL -> last-layer hidden state at each reward token -> linear head, no bias
    build_reward_model    base Qwen2-VL + reward tokens + LoRA (+ vision tower full / frozen / LoRA)
    VideoRewardScorer     a loaded checkpoint that scores videos, normalised per dimension, plus "overall"
"""

from __future__ import annotations

import hashlib
import uuid
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
from peft import LoraConfig, get_peft_model

from rewardlab.ml.config_fields import check_settings
from rewardlab.ml.configs import RewardModelSettings
from rewardlab.ml.pipelines import resolve_device
from rewardlab.ml.video import RESIZE_PATHS, PatchSpec, decode_video, patchify, resize_frames

# --- the prompt ---------------------------------------------------------------------------------------------------

SYSTEM_PROMPT = "You are a helpful assistant."

QUESTIONS = {
    "vq": "Please rate the visual quality of the video, judging only what you see in its frames: how "
          "reasonable the content is, its clarity, the richness of its details, and its aesthetics.",
    "mq": "Please rate the motion quality of the video: the stability between frames, how natural and "
          "smooth the movement is, how well moving parts blend with the scene, and the amplitude of the motion.",
    "ta": "Please rate how well the video matches the text prompt: its subjects, their motion, the "
          "environment, the style and the camera movement.",
    "overall": "Please rate the overall quality of the video for this text prompt, considering its visual "
               "quality, its motion and its alignment with the prompt.",
}
# Dimensions judged on the video alone: their questions come before the text prompt, so under causal
# attention their reward tokens cannot see it.
VIDEO_ONLY_DIMENSIONS = ("vq", "mq")


def reward_token(dimension: str) -> str:
    """The special token whose hidden state scores `dimension`: "vq" -> "<|VQ_reward|>"."""
    return f"<|{dimension.upper()}_reward|>"


def default_template(dimensions: list[str]) -> str:
    """Video-only questions, then the text prompt, then the questions that need it. `{prompt}` marks the prompt."""
    def question(d: str) -> str:
        return f"{QUESTIONS.get(d, f'Please rate the {d} of the video.')} {reward_token(d)}\n"

    before = "".join(question(d) for d in dimensions if d in VIDEO_ONLY_DIMENSIONS)
    after = "".join(question(d) for d in dimensions if d not in VIDEO_ONLY_DIMENSIONS)
    return f"{before}The text prompt used to generate the video is: \"{{prompt}}\"\n{after}".rstrip("\n")


def build_user_text(prompt: str, template: str) -> str:
    return template.replace("{prompt}", prompt)


# --- the mode: how a checkpoint reads its inputs ------------------------------------------------------------------
# A checkpoint is scored the way it was trained; reward_config.json records each of these.

VIDEOALIGN_TEMPLATE_FILE = Path(__file__).resolve().parent.parent / "data" / "prompts" / "videoalign_detailed_special.txt"
VIDEOALIGN_DIMENSIONS = ("vq", "mq", "ta")


def videoalign_template() -> str:
    """VideoAlign's DETAILED_PROMPT_WITH_SPECIAL_TOKEN, the released model's user text, with `{prompt}` marking the
    prompt (VQ and MQ before it, TA after it)."""
    return VIDEOALIGN_TEMPLATE_FILE.read_text(encoding="utf-8").replace("{text_prompt}", "{prompt}")


POSITION_SCHEMES = {
    "1d": "1-D: position i for token i on all three M-RoPE sections, as VideoAlign got from transformers 4.45 "
          "(it called the language model with inputs_embeds and no input_ids)",
    "mrope": "3-D M-RoPE: Qwen2-VL's temporal/height/width positions for video tokens (get_rope_index)",
}
OVERALL_RULES = {
    "sum": "the sum of the dimensions' scores, as VideoAlign's inference.py reports Overall",
    "mean": "the weighted mean of the dimensions' scores",
}
MODES = {  # the named presets a training run picks from
    "videoalign": {"positions": "1d", "resize": "qwen-vl-utils", "overall": "sum"},
    "vidpref-v1": {"positions": "mrope", "resize": "vidpref-v1", "overall": "mean"},
}
# reward_config.json written before these fields existed: the mode those checkpoints were trained in
LEGACY_MODE = MODES["vidpref-v1"]


# --- the checkpoint's description -------------------------------------------------------------------------------

@dataclass
class RewardConfig(RewardModelSettings):
    """Everything needed to rebuild a reward model from its base and score with it (reward_config.json)."""

    dimensions: list[str]
    base_model_path: str
    base_config: dict = field(default_factory=dict)  # the base's architecture, to refuse a different base
    norm: dict[str, dict[str, float]] | None = None  # dim -> {"mean", "std"} of rewards on the training set
    format: str = "vidpref-reward-v1"

    def __post_init__(self):
        if not self.dimensions:
            raise ValueError("reward config: dimensions is empty")
        check_settings(self)
        if not self.prompt_template:
            videoalign = self.mode == "videoalign" and sorted(self.dimensions) == sorted(VIDEOALIGN_DIMENSIONS)
            self.prompt_template = videoalign_template() if videoalign else default_template(self.dimensions)
        missing = [reward_token(d) for d in self.dimensions if reward_token(d) not in self.prompt_template]
        if missing or "{prompt}" not in self.prompt_template:
            raise ValueError(f"reward config: prompt_template needs {{prompt}} and the tokens {missing}")
        weights = self.overall_weights
        if weights is not None and (set(weights) - set(self.dimensions) or sum(weights.values()) <= 0):
            raise ValueError(f"reward config: overall_weights {weights} must weigh some of {self.dimensions}")

    @property
    def reward_tokens(self) -> list[str]:
        return [reward_token(d) for d in self.dimensions]

    @property
    def mode(self) -> str:
        """The preset these settings match ("videoalign", "vidpref-v1"), or "custom"."""
        settings = {"positions": self.positions, "resize": self.resize, "overall": self.overall}
        return next((name for name, preset in MODES.items() if preset == settings), "custom")

    def describe(self) -> dict[str, str]:
        """How this checkpoint reads its inputs, in words: for its page and reward_config.json readers."""
        return {"mode": self.mode, "positions": POSITION_SCHEMES[self.positions], "resize": RESIZE_PATHS[self.resize],
                "overall": OVERALL_RULES[self.overall], "prompt_template": self.prompt_template}

    def to_dict(self) -> dict:
        return asdict(self)


def base_fingerprint(config) -> dict:
    """The architecture fields that must match between a checkpoint and the base it is loaded on."""
    text, vision = config.text_config, config.vision_config
    return {
        "model_type": config.model_type,
        "hidden_size": text.hidden_size,
        "num_hidden_layers": text.num_hidden_layers,
        "num_attention_heads": text.num_attention_heads,
        "vision_depth": vision.depth,
        "vision_embed_dim": vision.embed_dim,
    }


# --- inputs -----------------------------------------------------------------------------------------------------

class RewardInputBuilder:
    """Turns (prompt, video file) into the token ids and patches one sequence needs, and pads batches.

    The token sequence is Qwen2-VL's chat format with the video first:
    system turn, then user turn = <|vision_start|> <|video_pad|> * n <|vision_end|> questions-and-prompt,
    then the assistant header. Decoded, resized frames can be cached on disk (uint8, keyed by file and settings).
    """

    def __init__(self, tokenizer, config: RewardConfig, spec: PatchSpec = PatchSpec(),
                 cache_dir: str | Path | None = None):
        self.tokenizer = tokenizer
        self.config = config
        self.spec = spec
        self.cache_dir = Path(cache_dir) if cache_dir else None
        ids = tokenizer.convert_tokens_to_ids
        self.video_token_id = ids("<|video_pad|>")
        self.reward_token_ids = [ids(t) for t in config.reward_tokens]
        self.head_ids = self._encode(f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n<|vision_start|>")

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def frames(self, video_path: str | Path) -> torch.Tensor:
        """Sampled, resized uint8 frames (T, 3, h, w) of a file, from the cache when there is one."""
        cfg = self.config
        cache_file = None
        if self.cache_dir:
            stat = Path(video_path).stat()
            key = f"{Path(video_path).resolve()}|{stat.st_mtime_ns}|{stat.st_size}|{cfg.fps}|{cfg.max_pixels}|" \
                  f"{cfg.min_pixels}|{cfg.max_frames}|{self.spec.factor}|{cfg.num_frames}|{cfg.resize}"
            cache_file = self.cache_dir / f"{hashlib.sha1(key.encode()).hexdigest()}.pt"
            if cache_file.exists():
                return torch.load(cache_file)
        frames, _ = decode_video(video_path, sample_fps=cfg.fps, num_frames=cfg.num_frames, max_frames=cfg.max_frames)
        frames = resize_frames(frames, max_pixels=cfg.max_pixels, min_pixels=cfg.min_pixels, factor=self.spec.factor,
                               path=cfg.resize)
        if cache_file:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_suffix(f".{uuid.uuid4().hex}.tmp")  # not torch's RNG: training must not see it
            torch.save(frames, tmp)
            tmp.replace(cache_file)  # atomic, so concurrent DataLoader workers never read half a file
        return frames

    def encode(self, prompt: str, video_path: str | Path) -> dict:
        """{"input_ids": list[int], "pixel_values": (N, 1176), "grid_thw": (3,)} for one (prompt, video file)."""
        return self.encode_frames(prompt, self.frames(video_path))

    def encode_frames(self, prompt: str, frames: torch.Tensor) -> dict:
        """encode() for frames already sampled and resized: uint8 (T, 3, h, w)."""
        pixel_values, grid_thw = patchify(frames, self.spec)
        n_video_tokens = int(grid_thw.prod()) // self.spec.merge_size ** 2
        tail = self._encode(f"<|vision_end|>{build_user_text(prompt, self.config.prompt_template)}"
                            "<|im_end|>\n<|im_start|>assistant\n")
        for token, token_id in zip(self.config.reward_tokens, self.reward_token_ids, strict=True):
            if tail.count(token_id) != 1:
                raise ValueError(f"prompt {prompt[:60]!r}: the reward token {token} must appear exactly once")
        input_ids = self.head_ids + [self.video_token_id] * n_video_tokens + tail
        return {"input_ids": input_ids, "pixel_values": pixel_values, "grid_thw": grid_thw}

    def collate(self, items: list[dict]) -> dict[str, torch.Tensor]:
        """Right-pad token ids and concatenate patches: the keyword arguments of VideoRewardModel.forward."""
        length = max(len(item["input_ids"]) for item in items)
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        input_ids = torch.full((len(items), length), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(items), length), dtype=torch.long)
        for i, item in enumerate(items):
            input_ids[i, :len(item["input_ids"])] = torch.tensor(item["input_ids"])
            attention_mask[i, :len(item["input_ids"])] = 1
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "mm_token_type_ids": (input_ids == self.video_token_id).int() * 2,  # 0 text, 1 image, 2 video
            "pixel_values_videos": torch.cat([item["pixel_values"] for item in items]),
            "video_grid_thw": torch.stack([item["grid_thw"] for item in items]),
        }


# --- the model --------------------------------------------------------------------------------------------------

class VideoRewardModel(nn.Module):
    """Qwen2-VL with a bias-free linear head; reward d is head row d applied to the hidden state at token d.

    The reward tokens' embeddings live in `reward_token_embeds` (trained) and replace the frozen
    embedding table's rows for those ids, so training them needs no gradient for the whole vocabulary.
    `positions` is the RoPE position scheme (POSITION_SCHEMES): "1d" as VideoAlign trained, or "mrope".
    """

    def __init__(self, vlm: nn.Module, reward_token_ids: list[int], *, positions: str = "1d"):
        super().__init__()
        if positions not in POSITION_SCHEMES:
            raise ValueError(f"positions must be one of {', '.join(POSITION_SCHEMES)}, not {positions!r}")
        self.positions = positions
        self.vlm = vlm  # Qwen2VLForConditionalGeneration, usually wrapped by peft
        hidden_size = self.qwen.config.text_config.hidden_size
        ids = torch.tensor(reward_token_ids)
        self.register_buffer("reward_token_ids", ids, persistent=False)
        table = self.qwen.get_input_embeddings().weight
        self.reward_token_embeds = nn.Parameter(table.detach()[ids].clone().float())
        self.head = nn.Linear(hidden_size, len(reward_token_ids), bias=False)

    def enable_activation_checkpointing(self) -> None:
        """Recompute each vision block's and decoder layer's activations in the backward pass (saves memory)."""
        vlm = self.vlm.get_base_model() if hasattr(self.vlm, "get_base_model") else self.vlm
        vlm.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})

    @property
    def qwen(self) -> nn.Module:
        """The Qwen2VLModel inside (vision tower + language model, no LM head)."""
        vlm = self.vlm.get_base_model() if hasattr(self.vlm, "get_base_model") else self.vlm
        return vlm.model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, mm_token_type_ids: torch.Tensor,
                pixel_values_videos: torch.Tensor, video_grid_thw: torch.Tensor) -> torch.Tensor:
        """Rewards (B, D) for B sequences, each holding every reward token once."""
        is_reward = input_ids[..., None] == self.reward_token_ids  # (B, L, D)
        embeds = self.qwen.get_input_embeddings()(input_ids)
        reward_embeds = is_reward.to(self.reward_token_embeds.dtype) @ self.reward_token_embeds  # (B, L, H)
        embeds = torch.where(is_reward.any(-1, keepdim=True), reward_embeds.to(embeds.dtype), embeds)
        if self.positions == "1d":
            # what transformers 4.45 gave VideoAlign when called without input_ids: position i for token i,
            # the same on the temporal, height and width sections; explicit ids skip M-RoPE's computation
            batch_size, length = input_ids.shape
            position_ids = torch.arange(length, device=input_ids.device).expand(3, batch_size, length)
            mm_token_type_ids = None
        else:
            position_ids = None  # Qwen2-VL computes 3-D M-RoPE from the token types and the video grid
        hidden = self.qwen(
            input_ids=input_ids, inputs_embeds=embeds, attention_mask=attention_mask, position_ids=position_ids,
            mm_token_type_ids=mm_token_type_ids, pixel_values_videos=pixel_values_videos,
            video_grid_thw=video_grid_thw, use_cache=False,
        ).last_hidden_state  # (B, L, H)
        positions = is_reward.int().argmax(dim=1)  # (B, D): where token d sits in each sequence
        batch = torch.arange(input_ids.shape[0], device=input_ids.device)[:, None]
        token_hidden = hidden[batch, positions]  # (B, D, H)
        return self.head(token_hidden.to(self.head.weight.dtype)).diagonal(dim1=1, dim2=2)  # (B, D)


def add_reward_tokens(vlm: nn.Module, tokenizer, dimensions: list[str]) -> list[int]:
    """Add the reward tokens to the tokenizer and return their ids.

    An id inside the embedding table keeps the row it already has: Qwen2-VL's table has unused rows past its
    tokenizer (151936 rows, 151657 tokens), and VideoAlign's reward tokens start from those rows. Ids past the
    table grow it, and those rows start at the mean embedding of the vocabulary before them (where transformers
    4.45 would have drawn them at random; only tables without spare rows, like the tiny test base, get here).
    """
    tokens = [reward_token(d) for d in dimensions]
    known = len(tokenizer)
    tokenizer.add_tokens([t for t in tokens if t not in tokenizer.get_vocab()], special_tokens=True)
    rows = vlm.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > rows:
        vlm.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    ids = tokenizer.convert_tokens_to_ids(tokens)
    new_rows = [i for i in ids if i >= rows]
    if new_rows:
        table = vlm.get_input_embeddings().weight
        with torch.no_grad():
            table[new_rows] = table[:known].mean(dim=0)
    return ids


LM_LORA_TARGETS = r"model\.language_model\.layers\.\d+\.(self_attn\.[qkvo]_proj|mlp\.(gate|up|down)_proj)"
VISION_LORA_TARGETS = r"model\.visual\.(blocks\.\d+\.(attn\.(qkv|proj)|mlp\.fc[12])|merger\.mlp\.[02])"


def build_reward_model(vlm: nn.Module, tokenizer, config: RewardConfig) -> VideoRewardModel:
    """Base Qwen2-VL -> reward model: reward tokens, LoRA on the language model's linear layers, and the
    vision tower fully trained, frozen, or with LoRA too. Head and reward-token embeddings are trained."""
    reward_token_ids = add_reward_tokens(vlm, tokenizer, config.dimensions)
    targets = LM_LORA_TARGETS if config.vision != "lora" else f"({LM_LORA_TARGETS})|({VISION_LORA_TARGETS})"
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=targets, bias="none")
    with warnings.catch_warnings():  # peft 0.21 calls a transformers API that warns of its v6 rename
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        vlm = get_peft_model(vlm, lora)  # freezes every base weight
    if config.vision == "full":
        vlm.get_base_model().model.visual.requires_grad_(True)
    return VideoRewardModel(vlm, reward_token_ids, positions=config.positions)


# --- scoring ----------------------------------------------------------------------------------------------------

def with_overall(scores: dict[str, float], config: RewardConfig) -> dict[str, float]:
    """`scores` plus "overall" by the config's rule: their (weighted) sum, as VideoAlign reports it, or their
    weighted mean; unless the model has an "overall" dimension of its own."""
    if "overall" in scores:
        return scores
    weights = config.overall_weights or {d: 1.0 for d in config.dimensions}
    total = sum(weights.get(d, 0.0) * scores[d] for d in config.dimensions)
    if config.overall == "mean":
        total /= sum(weights.get(d, 0.0) for d in config.dimensions)
    return {**scores, "overall": total}


def normalise(rewards: dict[str, float], config: RewardConfig) -> dict[str, float]:
    """Per-dimension z-scores from the training set's reward statistics, plus "overall" (with_overall)."""
    norm = config.norm or {}
    return with_overall({d: (r - norm[d]["mean"]) / norm[d]["std"] if d in norm else r for d, r in rewards.items()},
                        config)


class VideoRewardScorer:
    """A trained reward model ready to score: `.score(prompt, video)` -> {dim: score, ..., "overall": score}."""

    def __init__(self, model: VideoRewardModel, tokenizer, config: RewardConfig, *, spec: PatchSpec = PatchSpec(),
                 device: str | torch.device = "cpu", cache_dir: str | Path | None = None):
        self.model = model.eval()
        self.config = config
        self.device = torch.device(device)
        self.inputs = RewardInputBuilder(tokenizer, config, spec, cache_dir=cache_dir)

    @classmethod
    def from_checkpoint(cls, checkpoint_dir: str | Path, *, base_model_path: str | Path | None = None,
                        device: str = "auto") -> VideoRewardScorer:
        """Load our checkpoint folder, or a released VideoReward folder (model_config.json + model.pth)."""
        from rewardlab.ml import checkpoint  # checkpoint builds models with this module's functions

        device = resolve_device(device)
        model, tokenizer, config, spec = checkpoint.load_any(checkpoint_dir, base_model_path=base_model_path,
                                                             device=device)
        return cls(model, tokenizer, config, spec=spec, device=device)

    @property
    def dimensions(self) -> list[str]:
        return list(self.config.dimensions)

    @torch.no_grad()
    def rewards(self, items: list[dict]) -> torch.Tensor:
        """Raw rewards (B, D) for encoded items (RewardInputBuilder.encode)."""
        batch = {k: v.to(self.device) for k, v in self.inputs.collate(items).items()}
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            return self.model(**batch).float().cpu()

    def score_many(self, items: Iterable[tuple[str, str | Path]], *, batch_size: int = 4, normalize: bool = True,
                   progress: Callable[[int], None] | None = None) -> list[dict[str, float]]:
        """Scores for (prompt, video path) pairs, `batch_size` videos per forward pass; `progress(n)` after each."""
        items = list(items)
        results = []
        for start in range(0, len(items), batch_size):
            chunk = items[start:start + batch_size]
            rewards = self.rewards([self.inputs.encode(prompt, path) for prompt, path in chunk])
            for row in rewards.tolist():
                raw = dict(zip(self.config.dimensions, row, strict=True))
                results.append(normalise(raw, self.config) if normalize else with_overall(raw, self.config))
            if progress:
                progress(len(chunk))
        return results

    def score(self, prompt: str, video_path: str | Path, *, normalize: bool = True) -> dict[str, float]:
        return self.score_many([(prompt, video_path)], normalize=normalize)[0]
