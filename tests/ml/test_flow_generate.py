"""Sampling: our loop reproduces WanPipeline, and generate_videos writes MP4s for prompts x seeds."""

import pytest
import torch

from rewardlab.ml.align import AlignConfig, run_alignment
from rewardlab.ml.generate import GenerateConfig, generate_videos, sample_latents
from rewardlab.ml.pipelines import VideoSizeError, load_flow_pipeline
from rewardlab.ml.tiny_wan import make_tiny_wan
from rewardlab.ml.video import decode_video
from tests.ml.flow_helpers import write_toy_pairs


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return make_tiny_wan(tmp_path_factory.mktemp("generate") / "tiny-wan")


@pytest.mark.parametrize("guidance_scale", [1.0, 4.0])
def test_the_sampling_loop_gives_wan_pipelines_own_latents(base, guidance_scale):
    flow = load_flow_pipeline(base)
    noise = torch.randn((1, *flow.latent_shape(9, 32, 48)), generator=torch.Generator().manual_seed(3))
    ours = sample_latents(
        flow, flow.text_batch(flow.encode_prompts(["a red ball"])), noise, steps=4, guidance_scale=guidance_scale,
        negative_text=flow.text_batch(flow.encode_prompts(["blurry"])),
    )
    theirs = flow.pipe("a red ball", negative_prompt="blurry", num_frames=9, height=32, width=48, num_inference_steps=4,
                       guidance_scale=guidance_scale, latents=noise, output_type="latent").frames
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_generate_writes_one_mp4_per_prompt_and_seed_with_the_adapter_loaded(base, tmp_path):
    pairs = write_toy_pairs(tmp_path / "data", n_pairs=2)
    adapter = run_alignment(AlignConfig(
        method="flow_dpo", base_model_path=str(base), pairs_file=str(pairs), output_dir=str(tmp_path / "run"),
        batch_size=2, micro_batch_size=2, lr=1e-2, lora_r=4, lora_alpha=8, cache_dir=str(tmp_path / "cache"),
    ))["adapter_dir"]
    config = GenerateConfig(base_model_path=str(base), prompts=["a red ball", "two cats"], seeds=[1, 2],
                            output_dir=str(tmp_path / "videos"), num_frames=9, height=32, width=48, steps=2)
    seen = []
    aligned = generate_videos(GenerateConfig(**{**vars(config), "adapter_dir": adapter}), progress=seen.append)
    plain = generate_videos(config)

    assert [(r["prompt"], r["seed"]) for r in aligned] == [("a red ball", 1), ("a red ball", 2), ("two cats", 1),
                                                             ("two cats", 2)]
    assert {r["model"] for r in aligned} == {"aligned"} and {r["model"] for r in plain} == {"base"}
    assert [r["done"] for r in seen if "done" in r] == [1, 2, 3, 4]  # besides its activity (loading, sampling)
    assert [r["activity"] for r in seen if "activity" in r] == ["loading the generator", "sampling aligned"]  # first
    frames, fps = decode_video(aligned[0]["path"], sample_fps=None, min_frames=1)
    assert frames.shape == (9, 3, 32, 48) and fps == 16
    for a, p in zip(aligned, plain, strict=True):  # same seeds, other weights
        assert not torch.equal(decode_video(a["path"], sample_fps=None)[0], decode_video(p["path"], sample_fps=None)[0])


def test_generate_refuses_sizes_the_vae_cannot_take(base, tmp_path):
    config = GenerateConfig(base_model_path=str(base), prompts=["x"], seeds=[0], output_dir=str(tmp_path), steps=1)
    with pytest.raises(VideoSizeError, match=r"num_frames 10: the VAE takes k\*4\+1 frames"):
        generate_videos(GenerateConfig(**{**vars(config), "num_frames": 10, "height": 32, "width": 32}))
    with pytest.raises(VideoSizeError, match="height 24: must be a positive multiple of 16; width 40: must be"):
        generate_videos(GenerateConfig(**{**vars(config), "num_frames": 9, "height": 24, "width": 40}))
    # The tiny model's position encoding covers 32 patches a side (16 px each): Wan's native 832 is too wide.
    with pytest.raises(VideoSizeError, match="width 832: this model takes at most 512"):
        generate_videos(GenerateConfig(**{**vars(config), "num_frames": 9, "height": 32, "width": 832}))
    with pytest.raises(FileNotFoundError, match="has no pytorch_lora_weights.safetensors"):
        generate_videos(GenerateConfig(**{**vars(config), "num_frames": 9, "height": 32, "width": 32,
                                          "adapter_dir": str(tmp_path)}))
