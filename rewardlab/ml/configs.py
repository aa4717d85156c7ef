"""The settings of every ML run, as dataclasses: what the command line, the API and the forms build.

Torch-free on purpose: the web process derives its forms and API (rewardlab/hyperparameters.py) from these
fields without loading torch. Ranges, choices and help sit on the fields (config_fields.setting) and are
checked when a config is built. The modules that run them re-export them (``rewardlab.ml.align.AlignConfig``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rewardlab.ml.config_fields import check_settings, setting

VIDEO_MIN_PIXELS = 128 * 28 * 28  # qwen-vl-utils' floor for video frames
# How a reward model reads its inputs (reward_model.POSITION_SCHEMES, video.RESIZE_PATHS, reward_model.OVERALL_RULES
# say what each means). The defaults are VideoAlign's mode (reward_model.MODES), so a model trained here reads what
# the released VideoReward read: bench/bench_reward_modes.py finds no forward-time cost to 1-D positions, rewards
# 1-3% of their spread apart from M-RoPE's, and the float resize dearer on CPU but paid once per video (frame cache).
POSITIONS = ("1d", "mrope")
RESIZES = ("qwen-vl-utils", "vidpref-v1")
OVERALLS = ("sum", "mean")
TIMESTEP_SAMPLING = ("uniform", "logit_normal")
ALIGN_METHODS = ("flow_dpo", "flow_rwr")


# --- reward models ----------------------------------------------------------------------------------------------

@dataclass(kw_only=True)
class RewardModelSettings:
    """How a reward model reads videos and what of Qwen2-VL it trains: shared by a checkpoint's RewardConfig and
    the RewardTrainConfig that makes one, so a training run cannot declare them differently."""

    fps: float = setting(2.0, min=0.1, max=60, help="Frames sampled per second of video.")
    max_pixels: int = setting(448 * 448, min=28 * 28, max=4096 * 4096, help="Pixels per frame after resizing.")
    min_pixels: int = setting(VIDEO_MIN_PIXELS, min=1, help="Smaller frames grow to this many pixels, even past "
                              "max_pixels, as qwen-vl-utils does.")
    max_frames: int = setting(768, min=1)
    num_frames: int | None = setting(None, min=2, help="Frames per video instead of fps sampling (VideoAlign's "
                                     "data_config.num_frames).")
    lora_r: int = setting(64, min=1, max=1024)
    lora_alpha: int = setting(128, min=1, max=4096)
    lora_dropout: float = setting(0.05, min=0, max=1)
    vision: str = setting("full", choices=("full", "frozen", "lora"), help="How the vision tower trains.")
    prompt_template: str = ""  # empty: VideoAlign's for vq, mq, ta in VideoAlign mode, else default_template
    overall_weights: dict[str, float] | None = None  # None: equal weights
    positions: str = setting("1d", choices=POSITIONS, help="RoPE positions: 1d as VideoAlign trained (transformers "
                             "4.45), or Qwen2-VL's 3-D M-RoPE.")
    resize: str = setting("qwen-vl-utils", choices=RESIZES, help="Frame sizing and resizing: qwen-vl-utils' float "
                          "path (VideoAlign), or vidpref-v1 (earlier checkpoints).")
    overall: str = setting("sum", choices=OVERALLS, help="Overall: the sum of the dimensions (VideoAlign) or their "
                           "weighted mean.")


@dataclass
class RewardTrainConfig(RewardModelSettings):
    """A training run: the reward model's own settings (RewardModelSettings, which its checkpoint keeps) and how
    to train it. Ranges and choices live on the fields (config_fields.setting) for the CLI, API and forms."""

    base_model_path: str
    train_file: str
    output_dir: str
    dimensions: list[str] = field(default_factory=lambda: ["vq", "mq", "ta"])
    val_file: str | None = None
    train_split: str | None = "train"  # rows of a dataset-version JSONL to train on (None: all); CSVs: all rows
    val_split: str | None = "val"
    video_root: str | None = None  # where relative video paths start (default: the pair file's folder)
    epochs: int = setting(1, min=1, max=10_000)
    max_steps: int | None = setting(None, min=1, max=10_000_000, help="Optimizer steps; overrides epochs.")
    batch_size: int = setting(2, min=1, max=4096, help="Pairs per micro-batch per GPU.")
    grad_accum: int = setting(1, min=1, max=4096)
    lr: float = setting(2e-6, min=0, max=1, help="Learning rate (VideoAlign: 2e-6).")
    warmup_ratio: float = setting(0.05, min=0, max=1)
    weight_decay: float = setting(0.0, min=0)
    max_grad_norm: float = setting(1.0, min=0)
    loss: str = setting("btt", choices=("btt", "bt"), help="BTT models ties; BT ignores them.")
    theta: float = setting(5.0, min=1.0001, max=1000, help="BTT tie parameter θ.")
    seed: int = setting(42, min=0, max=2**31 - 1)
    device: str = "auto"
    dtype: str = setting("auto", choices=("auto", "bf16", "fp32"),
                         help="Autocast dtype: auto (bf16 on GPU, fp32 on CPU); weights stay fp32.")
    gradient_checkpointing: bool | None = None  # None: on for GPUs
    resume: bool = True
    init_checkpoint: str | None = None  # warm start: a reward checkpoint (same base, LoRA and vision) to start from
    save_every: int | None = setting(50, min=1, max=10_000_000,
                                     help="Steps between resumable checkpoints (a lost worker resumes here).")
    num_workers: int = setting(0, min=0, max=64, help="Video-decoding processes.")
    frame_cache_dir: str | None = None

    def __post_init__(self):
        check_settings(self)
        self.dimensions = [d.lower() for d in self.dimensions]  # label keys are lower case
        if not self.dimensions or len(set(self.dimensions)) != len(self.dimensions):
            raise ValueError(f"dimensions must be distinct and not empty, not {self.dimensions}")


# --- generators -------------------------------------------------------------------------------------------------

@dataclass(kw_only=True)
class LatentDataConfig:
    """Where training videos come from and how they become latents: shared by alignment and Flow-NRG."""

    split: str | None = "train"  # which split of a dataset version to train on (None: all)
    video_root: str | None = None  # where relative video paths start (default: the pairs file's folder)
    sample_fps: float | None = setting(16.0, min=0.1, max=120, help="Frame rate training videos are sampled at.")
    num_frames: int = setting(81, min=1, max=1024, help="Frames per training video (k*4+1 for Wan).")
    height: int | None = setting(None, min=8, max=4096, help="Resize training videos to this height (default: theirs).")
    width: int | None = setting(None, min=8, max=4096)
    cache_dir: str | None = None  # default: $VIDPREF_LATENT_CACHE or ~/.cache/vidpref/latents
    seed: int = setting(0, min=0, max=2**31 - 1)
    device: str = "auto"
    dtype: str = setting("auto", choices=("auto", "bf16", "fp16", "fp32"),
                         help="auto (bf16 on CUDA, fp32 on CPU) | bf16 | fp16 | fp32")

    def __post_init__(self):
        check_settings(self)


@dataclass
class AlignConfig(LatentDataConfig):
    method: str  # "flow_dpo" | "flow_rwr"
    base_model_path: str  # a local diffusers pipeline folder (Wan2.1-T2V-1.3B-Diffusers)
    pairs_file: str  # dataset version JSONL or VideoGen-RewardBench CSV
    output_dir: str
    dimension: str = setting("overall", help="Preference dimension to align on (ignored when weights are given).")
    weights: dict[str, float] | None = setting(None, help='Weighted sum of dimensions, e.g. {"vq": 1, "mq": 1}.')
    beta: float = setting(500.0, min=0, max=1e6, help="Flow-DPO β (paper: 500).")
    lr: float = setting(5e-6, min=0, max=1)
    batch_size: int = setting(64, min=1, max=4096, help="Pairs (DPO) or videos (RWR) per optimiser step.")
    micro_batch_size: int = setting(1, min=1, max=4096, help="Per forward pass; gradients accumulate to batch_size.")
    epochs: int = setting(1, min=1, max=10_000)
    max_steps: int | None = setting(None, min=1, max=10_000_000, help="Optimizer steps; overrides epochs.")
    timestep_sampling: str = setting("uniform", choices=TIMESTEP_SAMPLING)
    logit_mean: float = 0.0
    logit_std: float = setting(1.0, min=0)
    lora_r: int = setting(64, min=1, max=1024)
    lora_alpha: int = setting(128, min=1, max=4096)
    rwr_tau: float = setting(1.0, min=1e-6, max=1e6, help="Flow-RWR temperature.")
    reward_checkpoint: str | None = None  # VideoReward folder: RWR scores, or DPO relabelling with relabel=True
    reward_base_model_path: str | None = None
    relabel: bool = setting(False, help="Flow-DPO: label pairs with the reward model instead of people.")
    rewards: dict[str, float] | None = None  # RWR without a checkpoint: video path -> reward
    resume: bool = True
    gradient_checkpointing: bool = True
    checkpoint_every: int = setting(50, min=1, max=10_000_000, help="Steps between resumable checkpoints.")
    max_grad_norm: float = 1.0
    weight_decay: float = 1e-4

    def dimension_weights(self) -> dict[str, float]:
        return dict(self.weights) if self.weights else {self.dimension: 1.0}

    def validate(self) -> None:
        if self.method not in ALIGN_METHODS:
            raise ValueError(f"method {self.method!r}: use one of {ALIGN_METHODS}")
        if self.method == "flow_rwr" and not (self.reward_checkpoint or self.rewards):
            raise ValueError("flow_rwr needs rewards: set reward_checkpoint (a VideoReward) or rewards")
        if self.relabel and not self.reward_checkpoint:
            raise ValueError("relabel needs reward_checkpoint")


@dataclass
class LatentRewardTrainConfig(LatentDataConfig):
    base_model_path: str
    pairs_file: str
    output_dir: str
    dimensions: list[str] | None = None  # default: every dimension the pairs are labelled on
    num_blocks: int = setting(4, min=1, max=64, help="Transformer blocks the latent reward model copies.")
    lr: float = setting(1e-5, min=0, max=1)
    batch_size: int = setting(8, min=1, max=4096, help="Pairs per optimiser step.")
    micro_batch_size: int = setting(4, min=1, max=4096)
    epochs: int = setting(1, min=1, max=10_000)
    max_steps: int | None = setting(None, min=1, max=10_000_000, help="Optimizer steps; overrides epochs.")
    timestep_sampling: str = setting("uniform", choices=TIMESTEP_SAMPLING)
    gradient_checkpointing: bool = True
    weight_decay: float = 1e-4


@dataclass
class GenerateConfig:
    base_model_path: str
    prompts: list[str]
    seeds: list[int]  # every prompt is sampled with every seed
    output_dir: str
    adapter_dir: str | None = None  # LoRA from run_alignment (loaded with pipe.load_lora_weights)
    nrg_checkpoint: str | None = None  # latent reward model from train_latent_reward
    nrg_weights: dict[str, float] | None = None  # λ per dimension, e.g. {"vq": 1, "mq": 1, "ta": 1}
    nrg_scale: float = setting(1.0, min=0, max=1000, help="Flow-NRG guidance strength w.")
    nrg_max_factor: float = 10.0  # cap on σ/(1-σ)
    num_frames: int = setting(81, min=1, max=1024)  # Wan 2.1's native size: 81 x 480 x 832
    height: int = setting(480, min=8, max=4096)
    width: int = setting(832, min=8, max=4096)
    steps: int = setting(50, min=1, max=1000)
    guidance_scale: float = setting(5.0, min=0, max=100, help="Classifier-free guidance; <= 1 turns it off.")
    negative_prompt: str = ""
    fps: int = setting(16, min=1, max=120)
    model_name: str | None = setting(None, help="The name the videos get as a generation model in a project.")
    device: str = "auto"
    dtype: str = "auto"

    def __post_init__(self):
        check_settings(self)
