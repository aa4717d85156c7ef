"""A released VideoReward checkpoint scores as VideoAlign's inference.py would: through `python -m rewardlab.ml
score`, the score API and a project's scoring run, to 1e-3 on VQ, MQ, TA and Overall.

`VideoAlignReference` below is VideoAlign's inference re-written in this test from the official files
(inference.py, trainer.py's Qwen2VLRewardModelBT.forward, prompt_template.py, utils.py's
load_model_from_checkpoint, vision_process.py, and the transformers-4.45 processor and Qwen2-VL it ran on).
It shares no code with rewardlab.ml: it decodes with PyAV, samples and resizes as qwen-vl-utils does, lays
out patches as the 4.45 processor, merges the PEFT LoRA itself and calls the language model with embeddings
only, which gives it 1-D positions.
"""

import json
import math
import shutil
from io import StringIO
from pathlib import Path

import av
import pytest
import torch
import torch.nn.functional as F
from django.core.management import call_command
from transformers import AutoTokenizer, Qwen2VLForConditionalGeneration

from annotation import storage
from annotation.models import Project, Video
from annotation.services.ingest import generation_model_get_or_create, prompt_get_or_create
from config.errors import Conflict, InvalidInput
from rewardlab.ml.__main__ import main
from rewardlab.ml.tiny_qwen import make_tiny_reward_base
from rewardlab.models import RewardModel, VideoScore
from rewardlab.services import runner
from rewardlab.services.reward_models import reward_model_register
from rewardlab.services.submit import score_run_create
from tests.conftest import FIXTURES, client_for, make_user

REPO_TEMPLATE = Path(__file__).resolve().parents[2] / "rewardlab" / "data" / "prompts" / "videoalign_detailed_special.txt"
CLIPS = [
    (FIXTURES / "videos" / "example_1_A.mp4",
     "The camera remains still, a girl with braided hair and wearing a pink dress approached the chair in the room "
     "and sat on it, the background is a cozy bedroom, warm indoor lighting."),
    (FIXTURES / "videos" / "example_2_A.mp4",
     "The camera follows a young explorer through an abandoned urban building at night, exploring hidden corridors "
     "and forgotten spaces, with a mix of light and shadow creating a mysterious atmosphere."),
]
SPECIAL_TOKENS = ["<|VQ_reward|>", "<|MQ_reward|>", "<|TA_reward|>"]
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
INFERENCE_CONFIG = {"VQ_mean": 0.31, "VQ_std": 1.7, "MQ_mean": -0.42, "MQ_std": 0.6, "TA_mean": 1.25, "TA_std": 2.4}
LORA_R, LORA_ALPHA = 4, 8
MAX_FRAME_PIXELS = 150_000
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


# --- writing a checkpoint in the released layout ----------------------------------------------------------------

def to_445_name(key: str) -> str:
    """A transformers-5 Qwen2-VL key -> the 4.45 name VideoAlign's model.pth carries (under PEFT's prefix)."""
    if key.startswith("model.language_model."):
        key = "model." + key.removeprefix("model.language_model.")
    elif key.startswith("model.visual."):
        key = key.removeprefix("model.")
    return "base_model.model." + key


def write_released(folder: Path, base: Path, *, output_dim: int, steps: list[int]) -> None:
    """model_config.json plus checkpoint-N/model.pth for each N: a fully trained-looking state dict (every weight
    moved, LoRA A/B on the language model's linear layers, rm_head of `output_dim` rows). Each N gets other
    weights, so reading any but the highest N shows."""
    vlm = Qwen2VLForConditionalGeneration.from_pretrained(base)
    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS})
    vlm.resize_token_embeddings(len(tokenizer))  # create_model_and_processor
    hidden = vlm.config.text_config.hidden_size
    for step in steps:
        g = torch.Generator().manual_seed(step * 7 + output_dim)
        state = {}
        for key, value in vlm.state_dict().items():
            value = value + 0.05 * torch.randn(value.shape, generator=g) * value.std().clamp(min=0.02)
            module, _, param = key.rpartition(".")
            if key.startswith("model.language_model.layers.") and module.split(".")[-1] in LORA_TARGETS:
                name = to_445_name(module)
                state[f"{name}.base_layer.{param}"] = value
                if param == "weight":
                    out_features, in_features = value.shape
                    state[f"{name}.lora_A.default.weight"] = 0.3 * torch.randn(LORA_R, in_features, generator=g)
                    state[f"{name}.lora_B.default.weight"] = 0.3 * torch.randn(out_features, LORA_R, generator=g)
            else:
                state[to_445_name(key)] = value
        state["base_model.model.rm_head.weight"] = torch.randn(output_dim, hidden, generator=g)
        (folder / f"checkpoint-{step}").mkdir(parents=True)
        torch.save(state, folder / f"checkpoint-{step}" / "model.pth")
    (folder / "model_config.json").write_text(json.dumps({
        "data_config": {"meta_data": "x.csv", "data_dir": "x", "meta_data_test": None,
                        "max_frame_pixels": MAX_FRAME_PIXELS, "num_frames": None, "fps": 2.0, "p_shuffle_frames": 0.0,
                        "p_color_jitter": 0.0, "eval_dim": ["VQ", "MQ", "TA"], "prompt_template_type": "detailed_special",
                        "add_noise": False, "sample_type": "uniform", "use_tied_data": True},
        "training_args": {"output_dir": "rm_output"},
        "model_config": {"model_name_or_path": str(base), "output_dim": output_dim, "use_special_tokens": True,
                         "reward_token": "special", "loss_type": "btt"},
        "peft_lora_config": {"lora_enable": True, "vision_lora": False, "lora_r": LORA_R, "lora_alpha": LORA_ALPHA,
                             "lora_namespan_exclude": ["lm_head", "rm_head", "embed_tokens", "visual"]},
        "inference_config": INFERENCE_CONFIG,
    }))


# --- VideoAlign's inference, re-written -------------------------------------------------------------------------

def read_video(path: Path, *, fps: float = 2.0) -> torch.Tensor:
    """vision_process.fetch_video for {"video": path, "fps": fps, "max_pixels": MAX_FRAME_PIXELS}: float (T, 3, h, w)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        video_fps = float(stream.average_rate)
        frames = [torch.from_numpy(f.to_ndarray(format="rgb24")) for f in container.decode(stream)]
    video = torch.stack(frames).permute(0, 3, 1, 2)
    total = video.shape[0]
    # smart_nframes
    min_frames, max_frames = 4, math.floor(min(768, total) / 2) * 2
    nframes = round(min(max(total / video_fps * fps, min_frames), max_frames) / 2) * 2
    nframes = min(nframes, total)
    video = video[torch.linspace(0, total - 1, nframes).round().long().tolist()]
    # smart_resize(height, width, 28, min_pixels=VIDEO_MIN_PIXELS, max_pixels=max_pixels)
    height, width = video.shape[-2:]
    h_bar, w_bar = max(28, round(height / 28) * 28), max(28, round(width / 28) * 28)
    if h_bar * w_bar > MAX_FRAME_PIXELS:
        beta = math.sqrt(height * width / MAX_FRAME_PIXELS)
        h_bar, w_bar = math.floor(height / beta / 28) * 28, math.floor(width / beta / 28) * 28
    elif h_bar * w_bar < 128 * 28 * 28:
        beta = math.sqrt(128 * 28 * 28 / (height * width))
        h_bar, w_bar = math.ceil(height * beta / 28) * 28, math.ceil(width * beta / 28) * 28
    # torchvision's resize of a uint8 tensor: float32, interpolate, clamp, round; then fetch_video's .float()
    resized = F.interpolate(video.float(), size=(h_bar, w_bar), mode="bicubic", align_corners=False, antialias=True)
    return torch.round(resized.clamp(0, 255)).to(torch.uint8).float()


def processor_patches(video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Qwen2VLImageProcessor (4.45) on one video with do_rescale: rescale, normalise, flatten to patches."""
    mean, std = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    x = (video * (1 / 255) - mean) / std
    t, c, h, w = x.shape
    gt, gh, gw = t // 2, h // 14, w // 14
    x = x.reshape(gt, 2, c, gh // 2, 2, 14, gw // 2, 2, 14).permute(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return x.reshape(gt * gh * gw, c * 2 * 14 * 14), torch.tensor([gt, gh, gw])


class VideoAlignReference:
    """VideoVLMRewardInference(load_from_pretrained=folder) and its .reward(), on CPU in float32."""

    def __init__(self, folder: Path):
        meta = json.loads((folder / "model_config.json").read_text())
        base = meta["model_config"]["model_name_or_path"]
        self.output_dim = meta["model_config"]["output_dim"]
        self.inference_config = meta["inference_config"]
        self.template = REPO_TEMPLATE.read_text(encoding="utf-8")
        self.tokenizer = AutoTokenizer.from_pretrained(base)
        self.tokenizer.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS})
        # load_model_from_checkpoint: the checkpoint-* with the largest int after the last "-"
        latest = sorted(folder.glob("checkpoint-*"), key=lambda p: int(str(p).split("-")[-1]), reverse=True)[0]
        state = torch.load(latest / "model.pth", map_location="cpu")
        scale = meta["peft_lora_config"]["lora_alpha"] / meta["peft_lora_config"]["lora_r"]
        weights = {}
        for key, value in state.items():
            key = key.removeprefix("base_model.model.")
            if ".lora_" in key:
                continue
            if ".base_layer." in key:
                module, param = key.split(".base_layer.")
                if param == "weight":
                    a, b = state[f"base_model.model.{module}.lora_A.default.weight"], \
                        state[f"base_model.model.{module}.lora_B.default.weight"]
                    value = value + scale * b @ a
                key = f"{module}.{param}"
            if key.startswith("model."):
                key = "model.language_model." + key.removeprefix("model.")
            elif key.startswith("visual."):
                key = "model." + key
            weights[key] = value
        self.rm_head = weights.pop("rm_head.weight")
        self.model = Qwen2VLForConditionalGeneration.from_pretrained(base)
        self.model.resize_token_embeddings(len(self.tokenizer))
        self.model.load_state_dict(weights, strict=True)
        self.model.eval()

    @torch.no_grad()
    def reward(self, video_paths: list[Path], prompts: list[str], use_norm: bool = True) -> list[dict]:
        qwen = self.model.model
        texts, pixels, grids = [], [], []
        for path, prompt in zip(video_paths, prompts, strict=True):
            patches, grid = processor_patches(read_video(path))
            pixels.append(patches)
            grids.append(grid)
            user = self.template.format(text_prompt=prompt)
            pads = "<|video_pad|>" * (int(grid.prod()) // 4)
            texts.append("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                         f"<|vision_start|>{pads}<|vision_end|>{user}<|im_end|>\n<|im_start|>assistant\n")
        self.tokenizer.padding_side = "right"
        batch = self.tokenizer(texts, padding=True, return_tensors="pt")
        input_ids = batch["input_ids"]
        # Qwen2VLRewardModelBT.forward: embeddings, video features scattered in, then the LM without input_ids
        embeds = qwen.get_input_embeddings()(input_ids)
        features = qwen.get_video_features(torch.cat(pixels), torch.stack(grids), return_dict=True).pooler_output
        video_mask = (input_ids == self.model.config.video_token_id)[..., None].expand_as(embeds)
        embeds = embeds.masked_scatter(video_mask, torch.cat(features))
        hidden = qwen.language_model(inputs_embeds=embeds, attention_mask=batch["attention_mask"]).last_hidden_state
        logits = hidden @ self.rm_head.T  # [B, L, N]
        special = torch.zeros_like(input_ids, dtype=torch.bool)
        for token_id in self.tokenizer.convert_tokens_to_ids(SPECIAL_TOKENS):
            special |= input_ids == token_id
        pooled = logits[special].view(len(texts), 3, -1)
        if self.output_dim == 3:
            pooled = pooled.diagonal(dim1=1, dim2=2)
        pooled = pooled.reshape(len(texts), -1)
        rewards = []
        for row in pooled:
            reward = {"VQ": row[0].item(), "MQ": row[1].item(), "TA": row[2].item()}
            if use_norm:
                for dim in ("VQ", "MQ", "TA"):
                    reward[dim] = (reward[dim] - self.inference_config[f"{dim}_mean"]) / self.inference_config[f"{dim}_std"]
            reward["Overall"] = reward["VQ"] + reward["MQ"] + reward["TA"]
            rewards.append(reward)
        return rewards


# --- the test ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """Two released-layout folders on one tiny base, with what VideoAlign's inference gives on the two clips."""
    root = tmp_path_factory.mktemp("videoreward")
    base = make_tiny_reward_base(root / "base")
    layouts = {}
    for output_dim, steps in ((3, [9, 100, 20]), (1, [2, 30])):  # 100 > 20 > 9, though "9" sorts last as text
        folder = root / f"VideoReward-dim{output_dim}"
        write_released(folder, base, output_dim=output_dim, steps=steps)
        expected = VideoAlignReference(folder).reward([c for c, _ in CLIPS], [p for _, p in CLIPS])
        layouts[output_dim] = (folder, base, expected)
    return layouts


def assert_videoalign(scores: dict, expected: dict) -> None:
    ours = {k: scores[k.lower()] for k in ("VQ", "MQ", "TA")} | {"Overall": scores["overall"]}
    assert ours == pytest.approx(expected, abs=1e-3)


@pytest.mark.slow  # builds two VideoReward checkpoints and runs VideoAlign's inference on them (once per module)
@pytest.mark.parametrize("output_dim", [3, 1])
def test_the_cli_scores_a_released_checkpoint_as_videoalign(released, output_dim, capsys):
    folder, _, expected = released[output_dim]
    assert len({round(e["Overall"], 3) for e in expected}) == 2  # the clips score apart: the comparison means something
    for (clip, prompt), want in zip(CLIPS, expected, strict=True):
        main(["score", "--checkpoint", str(folder), "--prompt", prompt, "--video", str(clip), "--device", "cpu"])
        assert_videoalign(json.loads(capsys.readouterr().out)["scores"], want)


@pytest.mark.slow  # the same checkpoints
@pytest.mark.parametrize("output_dim", [3, 1])
@pytest.mark.django_db(transaction=True)
def test_the_score_api_and_a_scoring_run_score_a_released_checkpoint_as_videoalign(released, output_dim):
    folder, base, expected = released[output_dim]
    project = Project.objects.create(name=f"VideoAlign parity {output_dim}")
    call_command("register_reward_model", project=project.pk, checkpoint=str(folder), stdout=StringIO())
    model_row = RewardModel.objects.get(project=project)
    assert (model_row.base_model_path, model_row.dimensions) == (str(base), ["vq", "mq", "ta"])
    with pytest.raises(Conflict, match="already registered"):
        reward_model_register(project=project, name="again", checkpoint_dir=str(folder))
    with pytest.raises(InvalidInput, match="not a reward checkpoint"):
        reward_model_register(project=project, name="base", checkpoint_dir=str(base))
    videos = []
    for i, (clip, prompt) in enumerate(CLIPS):  # stored as ingest stores a ready video (no transcode: same pixels)
        sha256 = storage.sha256_file(clip)
        key = storage.content_key(sha256, "playback.mp4")
        storage.put_file(clip, key)
        videos.append(Video.objects.create(
            project=project, prompt=prompt_get_or_create(project=project, text=prompt), status="ready",
            generation_model=generation_model_get_or_create(project=project, name="kling"), seed=i, original=key,
            playback=key, sha256=sha256, size_bytes=clip.stat().st_size, codec="h264"))

    admin = make_user(f"parity{output_dim}", staff=True)
    api = client_for(admin)
    for (clip, prompt), want in zip(CLIPS, expected, strict=True):
        with clip.open("rb") as f:
            answer = api.post(f"/api/v1/reward-models/{model_row.pk}/score/", {"prompt": prompt, "file": f})
        assert answer.status_code == 200, answer.json()
        assert_videoalign(answer.json()["scores"], want)

    scoring = score_run_create(created_by=admin, reward_model=model_row, enqueue=False)
    assert runner.execute_run(run_id=scoring.pk).status == "succeeded"
    for video, want in zip(videos, expected, strict=True):
        assert_videoalign(VideoScore.objects.get(reward_model=model_row, video=video).scores, want)


@pytest.mark.slow  # the same checkpoints
def test_the_checkpoint_with_the_highest_step_is_read(released, tmp_path):
    folder, _, _ = released[3]
    lora_only = shutil.copytree(folder, tmp_path / "lora-only")
    (lora_only / "checkpoint-1000").mkdir()  # the latest step, saved without save_full_model
    with pytest.raises(FileNotFoundError, match="checkpoint-1000: no model.pth"):
        main(["score", "--checkpoint", str(lora_only), "--prompt", "x", "--video", str(CLIPS[0][0]), "--device", "cpu"])
