"""The Wan adapter and the latent cache: what the VAE and text encoder see, cached once, and what they refuse."""

import json

import pytest
import torch
from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel
from transformers import UMT5EncoderModel

from rewardlab.ml.align import AlignConfig, run_alignment
from rewardlab.ml.flow_matching import add_noise, per_sample_mse, sample_sigmas, velocity_target
from rewardlab.ml.latent_cache import FrameSpec, LatentCache, prepare_frames
from rewardlab.ml.pipelines import UnsupportedPipelineError, VideoSizeError, load_flow_pipeline
from rewardlab.ml.tiny_wan import make_tiny_wan
from tests.ml.flow_helpers import FIXTURES, write_clip, write_toy_pairs


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return make_tiny_wan(tmp_path_factory.mktemp("latents") / "tiny-wan")


def test_flow_matching_interpolates_from_data_to_noise_with_velocity_noise_minus_data():
    x0, noise = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    assert torch.equal(add_noise(x0, noise, torch.tensor([0.0, 1.0]))[0], x0[0])
    assert torch.equal(add_noise(x0, noise, torch.tensor([0.0, 1.0]))[1], noise[1])
    sigma, dsigma = torch.tensor([0.3, 0.6]), 1e-3  # d x_t / dσ is the velocity target
    slope = (add_noise(x0, noise, sigma + dsigma) - add_noise(x0, noise, sigma)) / dsigma
    assert torch.allclose(slope, velocity_target(x0, noise), atol=1e-3)
    assert per_sample_mse(x0, x0 + torch.tensor([1.0, 2.0]).view(2, 1, 1)).tolist() == [1.0, 4.0]


def test_timesteps_are_uniform_or_logit_normal_in_the_open_unit_interval():
    g = torch.Generator().manual_seed(0)
    uniform, logit_normal = sample_sigmas(4000, generator=g), sample_sigmas(4000, mode="logit_normal", generator=g)
    assert 0 < uniform.min() and uniform.max() < 1 and abs(uniform.mean().item() - 0.5) < 0.02
    assert 0 < logit_normal.min() and logit_normal.max() < 1
    assert ((logit_normal - 0.5).abs() < 0.25).float().mean() > ((uniform - 0.5).abs() < 0.25).float().mean()
    with pytest.raises(ValueError, match="use one of"):
        sample_sigmas(1, mode="cosine")


def test_tiny_wan_is_a_wan_pipeline_that_loads_from_its_folder(base):
    pipe = WanPipeline.from_pretrained(base)
    assert isinstance(pipe.transformer, WanTransformer3DModel) and isinstance(pipe.vae, AutoencoderKLWan)
    assert isinstance(pipe.text_encoder, UMT5EncoderModel)
    assert isinstance(pipe.scheduler, FlowMatchEulerDiscreteScheduler)
    assert pipe.tokenizer("any prompt, even ünïcode").input_ids[-1] == pipe.tokenizer.eos_token_id


def test_a_base_path_that_is_not_a_supported_pipeline_is_refused(tmp_path):
    with pytest.raises(UnsupportedPipelineError, match="not a diffusers pipeline folder"):
        load_flow_pipeline(tmp_path)
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    with pytest.raises(UnsupportedPipelineError, match="holds a StableDiffusionPipeline; supported .*WanPipeline"):
        load_flow_pipeline(tmp_path)


def test_latents_are_the_vae_posterior_mean_normalised_by_latents_mean_and_std(base):
    flow = load_flow_pipeline(base)
    pixels = torch.rand(3, 5, 32, 32) * 2 - 1
    vae = flow.pipe.vae
    mode = vae.encode(pixels[None]).latent_dist.mode()[0]
    mean, std = (torch.tensor(vae.config[k]).view(-1, 1, 1, 1) for k in ("latents_mean", "latents_std"))
    assert torch.allclose(flow.encode_video(pixels), (mode - mean) / std, atol=1e-6)
    assert flow.decode_latents(flow.encode_video(pixels)[None]).shape == (1, 5, 32, 32, 3)


def test_prompt_embeddings_are_padded_like_the_pipeline_pads_them(base):
    flow = load_flow_pipeline(base)
    short, longer = flow.encode_prompts(["a cat", "a cat on a mat"])
    assert short.shape[0] == len(b"a cat") + 1  # bytes + </s>
    padded = flow.text_batch([short, longer])
    theirs, _ = flow.pipe.encode_prompt(["a cat", "a cat on a mat"], do_classifier_free_guidance=False,
                                        max_sequence_length=512)  # what WanPipeline.__call__ uses
    assert padded.shape == theirs.shape == (2, 512, 32) and torch.allclose(padded, theirs, atol=1e-5)


def test_frames_are_resampled_to_the_generator_fps_and_cut_to_4k_plus_1():
    frames = torch.arange(48).view(48, 1, 1, 1).expand(48, 3, 16, 16).to(torch.uint8)  # frame i has value i
    spec = FrameSpec(sample_fps=16.0, num_frames=21)
    pixels = prepare_frames(frames, 24.0, spec, frame_multiple=4, pixel_multiple=16)
    values = ((pixels[0, :, 0, 0] + 1) * 127.5).round().long()
    assert len(values) == 21 and values[-1].item() == 30  # 20 / 16 s into a 24 fps video
    short = prepare_frames(frames[:11], 16.0, spec, frame_multiple=4, pixel_multiple=16)
    assert short.shape[1] == 9  # 11 frames -> 2 * 4 + 1


def test_a_real_clip_is_resized_and_encoded_once(base, tmp_path):
    flow = load_flow_pipeline(base)
    clip = FIXTURES / "videos" / "example_3_B.mp4"  # 688x384, 16 fps, 60 frames
    spec = FrameSpec(num_frames=9, height=32, width=48)
    cache = LatentCache(tmp_path, flow, spec)
    latents = cache.video(clip)
    assert latents.shape == (4, 3, 4, 6) and (cache.hits, cache.misses) == (0, 1)

    again = LatentCache(tmp_path, load_flow_pipeline(base), spec)
    assert torch.equal(again.video(clip), latents) and (again.hits, again.misses) == (1, 0)
    assert again.prompts(["p", "q", "p"])[0].shape[-1] == 32 and again.misses == 2
    assert again.prompt_files(["q", "p"]) and again.hits == 3
    other_size = LatentCache(tmp_path, flow, FrameSpec(num_frames=9, height=48, width=32))
    assert other_size.video(clip).shape == (4, 3, 6, 4) and other_size.misses == 1


def test_the_cache_is_keyed_by_the_vae_and_text_encoder(base, tmp_path):
    other = load_flow_pipeline(make_tiny_wan(tmp_path / "other", seed=1))
    assert other.model_id != load_flow_pipeline(base).model_id


def test_sizes_the_vae_cannot_take_are_refused_with_what_to_do(base, tmp_path):
    flow = load_flow_pipeline(base)
    odd = write_clip(tmp_path / "odd.mp4", torch.full((5, 24, 40, 3), 99.0))
    with pytest.raises(VideoSizeError, match="is 40x24.*multiples of 16. Set height and width"):
        LatentCache(tmp_path, flow).video(odd)
    assert LatentCache(tmp_path, flow, FrameSpec(height=32, width=32)).video(odd).shape == (4, 2, 4, 4)
    with pytest.raises(VideoSizeError, match="both must be multiples of 16"):
        LatentCache(tmp_path, flow, FrameSpec(height=30, width=32))
    square = write_clip(tmp_path / "square.mp4", torch.full((5, 32, 32, 3), 99.0))
    wide = write_clip(tmp_path / "wide.mp4", torch.zeros(5, 32, 48, 3))
    with pytest.raises(VideoSizeError, match="pair 7: its two videos have different sizes"):
        LatentCache(tmp_path, flow).pair_files(square, wide, name="pair 7")


def test_alignment_on_videos_of_an_unusable_size_fails_before_training(base, tmp_path):
    pairs = write_toy_pairs(tmp_path / "data", n_pairs=2, size=(24, 40))
    config = AlignConfig(method="flow_dpo", base_model_path=str(base), pairs_file=str(pairs),
                         output_dir=str(tmp_path / "out"), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(VideoSizeError, match="40x24"):
        run_alignment(config)
    config.height, config.width, config.batch_size, config.lora_r = 32, 32, 2, 4
    assert run_alignment(config)["steps"] == 1
