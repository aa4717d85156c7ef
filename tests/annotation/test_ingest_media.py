"""Ingest and processing with real ffmpeg: synthetic clips, the real VideoAlign clips, and bad files."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from annotation.models import GenerationModel, Prompt, Video
from annotation.services.ingest import video_ingest
from annotation.services.media import MediaError, process_video
from config.errors import InvalidInput
from tests.annotation.media_clips import bad, clip, odd_444, tagged
from tests.conftest import FIXTURES

pytestmark = pytest.mark.django_db


def ffprobe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def media(key: str) -> Path:
    return Path(settings.MEDIA_ROOT) / key


def ingest(project, path: Path, **kwargs) -> tuple[Video, bool]:
    options = {"prompt_text": "a red fox in the snow", "model_name": "model-a", **kwargs}
    return video_ingest(project=project, path=path, **options)


def assert_browser_safe(path: Path, *, fps: str) -> dict:
    info = ffprobe(path)
    (stream,) = info["streams"]  # video only: audio, subtitles and data are dropped
    assert stream["codec_name"] == "h264" and stream["pix_fmt"] == "yuv420p"
    assert stream["avg_frame_rate"] == stream["r_frame_rate"] == fps
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat"), "+faststart puts the index first"
    return info


def test_an_h264_clip_is_stored_once_and_becomes_ready_with_playback_and_poster(project_world):
    project = project_world["project"]
    source = clip(1)
    video, created = ingest(project, source, seed=7, meta={"run": "r1"}, original_name="fox.mp4")
    assert created and video.status == Video.Status.PENDING
    assert media(video.original).read_bytes() == source.read_bytes()
    assert video.original.endswith("/original.mp4") and video.sha256 in video.original
    assert (video.prompt.text, video.generation_model.name, video.seed, video.meta) == ("a red fox in the snow", "model-a", 7, {"run": "r1"})

    video = process_video(video=video)

    assert video.status == Video.Status.READY and video.error == ""
    assert_browser_safe(media(video.playback), fps="8/1")
    assert media(video.poster).read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG
    assert (video.width, video.height, video.num_frames, video.fps, video.duration_s) == (160, 96, 8, 8.0, 1.0)
    assert media(video.original).read_bytes() == source.read_bytes(), "the original is kept as it came"


def test_the_same_bytes_twice_are_one_video(project_world):
    project = project_world["project"]
    first, created = ingest(project, clip(2))
    again, created_again = ingest(project, clip(2), prompt_text="another prompt", model_name="model-b")
    assert created and not created_again and again.pk == first.pk
    assert Video.objects.filter(project=project).count() == 1
    other, created_other = ingest(project_world["other"], clip(2))
    assert created_other and other.original == first.original, "another project shares the stored file"


def test_a_file_browsers_cannot_play_is_transcoded_to_even_sized_h264(project_world):
    video, _ = ingest(project_world["project"], odd_444(), process_now=True)
    assert video.status == Video.Status.READY, video.error
    info = assert_browser_safe(media(video.playback), fps="10/1")
    assert (info["streams"][0]["width"], info["streams"][0]["height"]) == (160, 96) == (video.width, video.height)
    assert video.codec == "h264" and video.num_frames == 10


def test_tags_and_audio_do_not_reach_the_playback_file(project_world):
    """Container tags can name the model; annotators must not be able to read it from the file."""
    video, _ = ingest(project_world["project"], tagged(), process_now=True)
    assert video.status == Video.Status.READY, video.error
    assert b"secret-model" not in media(video.playback).read_bytes()
    assert b"secret-model" in media(video.original).read_bytes()
    assert_browser_safe(media(video.playback), fps="8/1")


@pytest.mark.parametrize("name, fps, frames", [("example_2_A.mp4", "24/1", 144), ("example_1_B.mp4", "30/1", 152)])
def test_real_videoalign_clips_become_ready(project_world, name, fps, frames):
    video, _ = ingest(project_world["project"], FIXTURES / "videos" / name, original_name=name, process_now=True)
    assert video.status == Video.Status.READY, video.error
    assert_browser_safe(media(video.playback), fps=fps)  # example_1_B's AAC track is gone
    assert video.num_frames == frames


@pytest.mark.parametrize("kind, reason", [
    ("text.mp4", "This is a text file, not a video."),
    ("empty.mp4", "The file is empty (0 bytes)."),
    ("image.png", "This is a still image (png), not a video."),
    ("audio.m4a", "The file has only audio, no video stream."),
    ("drawing.svg", "This is a still image (svg), not a video."),
    ("truncated.mp4", "ffmpeg cannot read this file as a video (Invalid data found when processing input)"),
    ("wide.mp4", "The video is 4112x16; this project accepts at most 4096x4096."),
    ("long.mp4", "The video lasts 7200.0 s; this project accepts at most 60 s."),
])
def test_files_that_are_not_videos_are_refused_before_anything_is_written(project_world, kind, reason):
    project = project_world["project"]
    videos_dir = Path(settings.MEDIA_ROOT) / "videos"
    before = sorted(videos_dir.rglob("*")) if videos_dir.exists() else []
    with pytest.raises(MediaError) as error:
        ingest(project, bad(kind))
    assert error.value.message.startswith(reason)
    assert error.value.status_code == 400 and error.value.code == "bad_media"
    assert not Video.objects.exists() and not Prompt.objects.exists() and not GenerationModel.objects.exists()
    assert (sorted(videos_dir.rglob("*")) if videos_dir.exists() else []) == before


@pytest.mark.parametrize("limits, reason", [
    ({"max_width": 100}, "The video is 160x96; this project accepts at most 100x4096."),
    ({"max_height": 64}, "The video is 160x96; this project accepts at most 4096x64."),
    ({"max_duration_s": 0.5}, "The video lasts 1.0 s; this project accepts at most 0.5 s."),
])
def test_videos_outside_the_project_limits_are_refused(project_world, limits, reason):
    project = project_world["project"]
    for name, value in limits.items():
        setattr(project, name, value)
    project.save()
    with pytest.raises(MediaError, match=reason):
        ingest(project, clip(3))
    assert not Video.objects.exists()


def test_a_video_smaller_than_16_pixels_is_refused(project_world, tmp_path):
    tiny = tmp_path / "tiny.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=8x8:rate=8", "-t", "1",
                    "-pix_fmt", "yuv420p", str(tiny)], check=True)
    with pytest.raises(MediaError, match="both sides must be at least 16 pixels"):
        ingest(project_world["project"], tiny)


def test_a_truncated_file_with_its_index_intact_fails_processing_with_a_reason(project_world):
    video, created = ingest(project_world["project"], bad("truncated-faststart.mp4"))
    assert created, "the headers read fine, so ingest accepts it"
    video = process_video(video=video)
    assert video.status == Video.Status.FAILED and video.playback == ""
    assert video.error.startswith("The video does not decode to the end (")
    assert "truncated or damaged" in video.error


def test_a_video_whose_original_vanished_fails_instead_of_staying_pending(project_world, tmp_path):
    source = tmp_path / "gone.mp4"
    shutil.copy(clip(4), source)
    video, _ = ingest(project_world["project"], source)
    media(video.original).unlink()
    video = process_video(video=video)
    assert video.status == Video.Status.FAILED and "No file stored" in video.error


def test_processing_is_queued_only_when_the_transaction_commits(project_world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        ingest(project_world["project"], clip(5))
        ingest(project_world["project"], clip(5))  # a duplicate queues nothing
    assert len(callbacks) == 1


@pytest.mark.parametrize("fields, message", [
    ({"prompt_text": "  "}, "The prompt is empty."),
    ({"model_name": ""}, "The model name must be 1-200 characters."),
    ({"seed": "7"}, "seed must be a whole number"),
    ({"source": "ftp"}, "source must be one of"),
    ({"meta": ["x"]}, "meta must be a JSON object."),
])
def test_bad_fields_are_refused(project_world, fields, message):
    with pytest.raises(InvalidInput, match=message):
        ingest(project_world["project"], clip(6), **fields)
    assert not Video.objects.exists()
