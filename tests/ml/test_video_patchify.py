"""Frame sampling, resizing and Qwen2-VL's patch layout, checked against transformers and a direct re-derivation."""

import numpy as np
import pytest
import torch
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize as hf_smart_resize

from rewardlab.ml.video import (
    IMAGE_MEAN,
    IMAGE_STD,
    PatchSpec,
    VideoDecodeError,
    decode_video,
    load_video_patches,
    num_sampled_frames,
    patchify,
    resize_frames,
    sample_indices,
    smart_resize,
)
from tests.conftest import FIXTURES
from tests.ml.conftest import ffmpeg_clip

VIDEOS = FIXTURES / "videos"


def processor_layout(video: np.ndarray, patch=14, temporal=2, merge=2) -> np.ndarray:
    """Qwen2-VL's processor flattening (transformers 4.45 Qwen2VLImageProcessor._preprocess), in numpy."""
    mean, std = np.array(IMAGE_MEAN).reshape(1, 3, 1, 1), np.array(IMAGE_STD).reshape(1, 3, 1, 1)
    patches = (video.astype(np.float64) / 255 - mean) / std  # (T, C, H, W)
    t, c, h, w = patches.shape
    gt, gh, gw = t // temporal, h // patch, w // patch
    patches = patches.reshape(gt, temporal, c, gh // merge, merge, patch, gw // merge, merge, patch)
    patches = patches.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return patches.reshape(gt * gh * gw, c * temporal * patch * patch)


def test_patchify_matches_the_processor_layout_on_a_random_video():
    video = torch.randint(0, 256, (6, 3, 56, 84), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    pixels, grid = patchify(video)
    assert grid.tolist() == [3, 4, 6]
    np.testing.assert_allclose(pixels.numpy(), processor_layout(video.numpy()), atol=1e-5)


def test_patchify_matches_transformers_image_processor_on_a_still_frame():
    # An image is a 2-frame video of the same frame: transformers' own code must give the same rows.
    frame = torch.randint(0, 256, (3, 56, 112), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    pixels, grid = patchify(frame[None].expand(2, -1, -1, -1))
    hf = Qwen2VLImageProcessorPil()(images=[frame.numpy()], do_resize=False, return_tensors="np")
    assert grid.tolist() == hf["image_grid_thw"][0].tolist()
    np.testing.assert_allclose(pixels.numpy(), hf["pixel_values"], atol=1e-5)


def test_an_odd_frame_count_repeats_the_last_frame():
    video = torch.randint(0, 256, (3, 3, 28, 28), dtype=torch.uint8)
    pixels, grid = patchify(video)
    padded, _ = patchify(torch.cat([video, video[-1:]]))
    assert grid.tolist() == [2, 2, 2]
    assert torch.equal(pixels, padded)


@pytest.mark.parametrize("size", [(752, 1360), (384, 672), (48, 64), (1080, 1920), (28, 1400), (500, 500)])
@pytest.mark.parametrize("max_pixels", [56 * 56, 448 * 448])
def test_legacy_smart_resize_agrees_with_transformers(size, max_pixels):
    # the vidpref-v1 path (earlier checkpoints) sized frames as transformers' processor does
    min_pixels = min(128 * 28 * 28, max_pixels)
    ours = smart_resize(*size, max_pixels=max_pixels, path="vidpref-v1")
    assert ours == hf_smart_resize(*size, factor=28, min_pixels=min_pixels, max_pixels=max_pixels)
    assert ours[0] % 28 == 0 and ours[1] % 28 == 0
    assert ours[0] * ours[1] <= max_pixels or min(ours) == 28  # a side never goes below one merged token


@pytest.mark.parametrize("total,fps,expected", [
    (126, 24.0, 10),   # 5.25 s at 2 fps = 10.5 -> even 10
    (60, 16.0, 8),     # 3.75 s -> 7.5 -> 8
    (5, 30.0, 4),      # short clips are sampled up to the minimum of 4
    (100_000, 24.0, 768),  # long ones are capped
])
def test_frame_counts_at_two_fps_are_even_and_clamped(total, fps, expected):
    assert num_sampled_frames(total, fps, sample_fps=2.0) == expected


def test_decode_samples_evenly_spread_frames_including_first_and_last():
    path = VIDEOS / "example_1_A.mp4"  # 126 frames, 24 fps, 1360x752
    sampled, fps = decode_video(path)
    everything, _ = decode_video(path, sample_fps=None)
    assert fps == 24.0
    assert sampled.dtype == torch.uint8 and sampled.shape == (10, 3, 752, 1360)
    assert everything.shape[0] == 126
    assert torch.equal(sampled, everything[sample_indices(126, 10)])


def test_resize_keeps_aspect_ratio_in_multiples_of_28():
    frames, _ = decode_video(VIDEOS / "example_2_A.mp4")  # 672x384
    resized = resize_frames(frames, max_pixels=448 * 448)
    assert resized.dtype == torch.uint8
    assert tuple(resized.shape[-2:]) == (336, 588)
    # bicubic antialiased resizing keeps the picture: means agree closely
    assert abs(resized.float().mean() - frames.float().mean()) < 2


def test_load_video_patches_gives_one_row_per_patch():
    pixels, grid = load_video_patches(VIDEOS / "example_3_B.mp4", max_pixels=448 * 448)
    assert pixels.shape == (int(grid.prod()), 3 * 2 * 14 * 14)
    assert grid[0] == 4  # 60 frames at 16 fps -> 8 frames -> 4 temporal patches


def test_patch_spec_reads_the_base_preprocessor_config(tiny_base):
    assert PatchSpec.from_pretrained(tiny_base) == PatchSpec()


def test_unreadable_video_error_names_the_file(tmp_path):
    bad = tmp_path / "not_a_video.mp4"
    bad.write_text("hello")
    with pytest.raises(VideoDecodeError, match="not_a_video.mp4"):
        decode_video(bad)
    with pytest.raises(ValueError, match="missing.mp4"):
        decode_video(tmp_path / "missing.mp4")


def test_clips_of_two_or_three_frames_give_two_and_one_frame_is_refused(tmp_path):
    # qwen-vl-utils' smart_nframes: the minimum of 4 is capped at the (even) frame count
    short = ffmpeg_clip(tmp_path / "three_frames.mp4", frames=3)
    frames, _ = decode_video(short)
    assert torch.equal(frames, decode_video(short, sample_fps=None, min_frames=1)[0][[0, 2]])
    single = ffmpeg_clip(tmp_path / "one_frame.mp4", frames=1)
    with pytest.raises(VideoDecodeError, match="one_frame.mp4.*1 frames"):
        decode_video(single)
    with pytest.raises(VideoDecodeError, match="3 frames"):
        decode_video(short, sample_fps=None)
