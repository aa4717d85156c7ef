"""Frames as VideoAlign reads them: qwen-vl-utils' smart_nframes, smart_resize and fetch_video's resize.

The references below are written from VideoAlign's vision_process.py (its copy of qwen-vl-utils) and from
torchvision's tensor resize, which fetch_video calls on the uint8 frames; they share no code with video.py.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from rewardlab.ml.video import decode_video, num_sampled_frames, resize_frames, smart_resize
from tests.conftest import FIXTURES

VIDEOS = FIXTURES / "videos"


def ref_smart_resize(height, width, factor=28, min_pixels=128 * 28 * 28, max_pixels=448 * 448):
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = math.floor(height / beta / factor) * factor
        w_bar = math.floor(width / beta / factor) * factor
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def ref_smart_nframes(ele, total_frames, video_fps):
    if "nframes" in ele:
        nframes = round(ele["nframes"] / 2) * 2
    else:
        fps = ele.get("fps", 2.0)
        min_frames = math.ceil(4 / 2) * 2
        max_frames = math.floor(min(768, total_frames) / 2) * 2
        nframes = min(max(total_frames / video_fps * fps, min_frames), max_frames)
        nframes = round(nframes / 2) * 2
    if nframes > total_frames:
        nframes = total_frames
    if not 2 <= nframes <= total_frames:
        raise ValueError(nframes)
    return nframes


def torchvision_tensor_resize(video, size):
    """torchvision.transforms.functional.resize on a uint8 tensor, bicubic, antialias: _cast_squeeze_in to float32,
    interpolate, clamp (bicubic on uint8), _cast_squeeze_out rounds back to uint8."""
    out = F.interpolate(video.to(torch.float32), size=size, mode="bicubic", align_corners=False, antialias=True)
    return torch.round(out.clamp(min=0, max=255)).to(torch.uint8)


@pytest.mark.parametrize("size", [(752, 1360), (384, 672), (48, 64), (1080, 1920), (30, 1400), (500, 500)])
@pytest.mark.parametrize("max_pixels", [56 * 56, 200704, 448 * 448])
def test_smart_resize_is_qwen_vl_utils(size, max_pixels):
    # below 100352 max_pixels qwen-vl-utils does not cap min_pixels, and a shrunk side may end under 28
    expected = ref_smart_resize(*size, max_pixels=max_pixels)
    if min(expected) == 0:  # qwen-vl-utils would hand a 0-pixel size to the resize; we say why instead
        with pytest.raises(ValueError, match="shrinks to nothing under max_pixels"):
            smart_resize(*size, max_pixels=max_pixels)
    else:
        assert smart_resize(*size, max_pixels=max_pixels) == expected


def test_a_small_max_pixels_still_grows_frames_to_min_pixels():
    assert smart_resize(48, 64, max_pixels=56 * 56) == (280, 392)  # as qwen-vl-utils: past max_pixels
    assert smart_resize(48, 64, max_pixels=56 * 56, path="vidpref-v1") == (56, 56)


@pytest.mark.parametrize("total,fps", [(126, 24.0), (60, 16.0), (5, 30.0), (3, 8.0), (2, 8.0), (100_000, 24.0),
                                       (49, 8.0), (7, 1.0)])
@pytest.mark.parametrize("num_frames", [None, 4, 9, 64])
def test_frame_counts_are_smart_nframes(total, fps, num_frames):
    ele = {"fps": 2.0} if num_frames is None else {"nframes": num_frames}
    assert num_sampled_frames(total, fps, sample_fps=2.0, num_frames=num_frames) == ref_smart_nframes(ele, total, fps)


@pytest.mark.parametrize("name,max_pixels", [("example_1_A.mp4", 200704), ("example_2_A.mp4", 448 * 448),
                                             ("example_3_B.mp4", 56 * 56)])
def test_resized_frames_are_fetch_videos(name, max_pixels):
    frames, _ = decode_video(VIDEOS / name)
    size = ref_smart_resize(*frames.shape[-2:], max_pixels=max_pixels)
    expected = torchvision_tensor_resize(frames, size)
    assert torch.equal(resize_frames(frames, max_pixels=max_pixels), expected)
    # the earlier uint8 kernel is not that path
    if size == (336, 588):
        legacy = resize_frames(frames, max_pixels=max_pixels, path="vidpref-v1")
        assert (legacy != expected).float().mean() > 0.01


def test_the_float_path_is_bicubic_antialiasing_as_pil_filters_floats():
    # an independent check of the filter itself: PIL's bicubic on float images ("F" mode), rounded the same way,
    # lands on the same grey level except where float32 sums straddle a rounding boundary
    frames, _ = decode_video(VIDEOS / "example_2_A.mp4")
    frames = frames[:2].contiguous()
    ours = resize_frames(frames, max_pixels=448 * 448).numpy().astype(np.int16)
    h, w = ours.shape[-2:]
    pil = np.stack([np.stack([np.asarray(Image.fromarray(frames[i, c].numpy().astype(np.float32), mode="F")
                                         .resize((w, h), Image.BICUBIC)) for c in range(3)]) for i in range(2)])
    pil = np.clip(pil, 0, 255).round().astype(np.int16)
    assert np.abs(ours - pil).max() <= 1
    assert (ours != pil).mean() < 0.005
