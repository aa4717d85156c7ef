"""Probe, validate and render a video into what annotators watch.

PyAV reads the container headers. One ffmpeg call then decodes every frame (a file that does not decode
to the end fails), writes the browser-safe playback MP4 (H.264, yuv420p, constant frame rate, ``+faststart``)
and grabs the poster frame. Files that already are browser-safe H.264 at a constant rate are remuxed rather
than re-encoded: people then judge exactly the pixels the model made, and it is several times faster. The
original is kept as it came.
"""

import logging
import re
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from django.db import IntegrityError, transaction

from annotation import storage
from annotation.models import Project, Video
from config.errors import InvalidInput, ServiceError

logger = logging.getLogger(__name__)

POSTER_TIMEOUT_S = 60
FFMPEG_TIMEOUT_S = 900  # below Celery's soft time limit, so a stuck ffmpeg fails the video, not the worker
MIN_SIDE = 16
MAX_FPS = 120
# Profiles every browser decodes; High 10, 4:2:2 and 4:4:4 profiles are not among them.
BROWSER_PROFILES = {"Baseline", "Constrained Baseline", "Main", "High"}
CRF = 18  # near-transparent: the encoder must not blur away the artefacts people are asked to judge


class MediaError(InvalidInput):
    """The file is not a usable video; the message says why in words a manager can act on."""

    code = "bad_media"


@dataclass(frozen=True)
class MediaInfo:
    format_name: str
    codec: str
    profile: str
    pix_fmt: str
    width: int
    height: int
    fps: Fraction
    duration_s: float
    num_frames: int
    constant_rate: bool

    @property
    def browser_safe(self) -> bool:
        """Can be stream-copied into the playback MP4 as it is."""
        return (self.codec == "h264" and self.pix_fmt == "yuv420p" and self.profile in BROWSER_PROFILES
                and self.constant_rate and self.width % 2 == 0 and self.height % 2 == 0
                and "mp4" in self.format_name.split(","))


def _run(args: list[str], *, timeout: int) -> subprocess.CompletedProcess:
    """Run ffmpeg; the child never outlives us (timeouts, Celery soft limits, worker shutdown)."""
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise MediaError(f"{args[0]} took longer than {timeout} s on this file; it is too long or damaged.") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(args, proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


_LOG_PREFIX = re.compile(r"^(\[[^\]]+\]\s*)+")


def _ffmpeg_reason(stderr: str, path: Path) -> str:
    """The last line ffmpeg printed, without its ``[demuxer @ 0x…]`` and file-name prefixes."""
    lines = [_LOG_PREFIX.sub("", line).strip() for line in stderr.splitlines()]
    lines = [line.replace(f"{path}: ", "") for line in lines if line]
    return lines[-1] if lines else "no details"


def _looks_like_text(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(1024)
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def sniff(path: Path) -> None:
    """The checks that cost no decoding (an empty file, a text file), for imports that leave probing to the media
    task: the row fails now with the reason probing would give."""
    if path.stat().st_size == 0:
        raise MediaError("The file is empty (0 bytes).")
    if _looks_like_text(path):
        raise MediaError("This is a text file, not a video.")


def _rate(value: Fraction | None) -> Fraction | None:
    return value if value is not None and 0 < value <= MAX_FPS else None


def probe(path: Path) -> MediaInfo:
    """Read the first video stream's properties from the container headers (PyAV, in process: a few
    milliseconds, where spawning ffprobe costs some 5% of a 480p transcode)."""
    if path.stat().st_size == 0:
        raise MediaError("The file is empty (0 bytes).")
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        if _looks_like_text(path):
            raise MediaError("This is a text file, not a video.") from None
        raise MediaError(f"ffmpeg cannot read this file as a video ({exc.strerror}). "
                         "It may be truncated, damaged, or not a video at all.") from None
    with container:
        # Cover art in audio files is a "video" stream too; it is not a video.
        videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
        if not videos:
            if container.streams.audio:
                raise MediaError("The file has only audio, no video stream.")
            raise MediaError("The file has no video stream.")
        stream, codec = videos[0], videos[0].codec_context
        format_name = container.format.name
        if format_name.endswith("_pipe") or format_name == "image2":  # an SVG has no decoder, so no codec context
            raise MediaError(f"This is a still image ({codec.name if codec else format_name.removesuffix('_pipe')}), "
                             "not a video.")
        if codec is None:
            raise MediaError("ffmpeg has no decoder for this file's video stream; convert it to H.264 MP4.")
        avg, nominal = _rate(stream.average_rate), _rate(stream.base_rate)
        fps = avg or nominal
        if fps is None:
            raise MediaError(f"The frame rate cannot be read or is above {MAX_FPS} fps.")
        if stream.duration:
            duration = float(stream.duration * stream.time_base)
        else:
            duration = (container.duration or 0) / av.time_base
        if duration <= 0:
            raise MediaError("The video has no duration; it may be a still image or a damaged file.")
        return MediaInfo(
            format_name=format_name,
            codec=codec.name,
            profile=codec.profile or "",
            pix_fmt=codec.format.name if codec.format else "",
            width=stream.width,
            height=stream.height,
            fps=fps,
            duration_s=duration,
            num_frames=stream.frames or round(duration * fps),
            constant_rate=avg is not None and nominal is not None and abs(avg - nominal) <= avg / 1000,
        )


def validate(info: MediaInfo, *, project: Project) -> None:
    """Raise MediaError unless the video fits the project's limits."""
    size = f"{info.width}x{info.height}"
    if min(info.width, info.height) < MIN_SIDE:
        raise MediaError(f"The video is {size}; both sides must be at least {MIN_SIDE} pixels.")
    if info.width > project.max_width or info.height > project.max_height:
        raise MediaError(f"The video is {size}; this project accepts at most {project.max_width}x{project.max_height}. "
                         "Downscale it, or raise the project's limits.")
    if info.duration_s > project.max_duration_s:
        raise MediaError(f"The video lasts {info.duration_s:.1f} s; this project accepts at most "
                         f"{project.max_duration_s:g} s. Trim it, or raise the project's limit.")
    if info.num_frames < 2:
        raise MediaError("The video has a single frame: a still image, not a video.")


def _rate_text(rate: Fraction) -> str:
    rate = rate.limit_denominator(1001)
    return f"{rate.numerator}/{rate.denominator}"


def render(src: Path, *, info: MediaInfo, playback: Path, poster: Path) -> int:
    """One ffmpeg pass: decode every frame, write the playback MP4 and the poster JPEG; frames in the playback."""
    # A frame a third of the way in: past fade-ins (containers that over-count their frames: see below).
    still = f"select='eq(n\\,{info.num_frames // 3})'[poster]"
    if info.browser_safe:
        graph = f"[0:v:0]split=2[check][still];[still]{still}"
        video_out = ["-map", "0:v:0", "-c:v", "copy"]
        decode_check = ["-map", "[check]", "-f", "null", "-"]
    else:
        graph = (f"[0:v:0]fps={_rate_text(info.fps)},scale=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p,"
                 f"split=2[play][still];[still]{still}")
        keyint = str(max(1, round(info.fps)))  # a key frame a second keeps seeking and frame-stepping snappy
        video_out = ["-map", "[play]", "-c:v", "libx264", "-preset", "veryfast", "-crf", str(CRF),
                     "-profile:v", "high", "-g", keyint]
        decode_check = []  # encoding already decodes every frame
    args = [
        "ffmpeg", "-nostdin", "-y", "-v", "error", "-xerror", "-progress", "pipe:1", "-nostats",
        "-i", str(src), "-filter_complex", graph,
        # Metadata and other streams go: tags can carry model names, and annotators watch muted.
        *video_out, "-an", "-sn", "-dn", "-map_metadata", "-1", "-map_metadata:s:v", "-1", "-map_chapters", "-1",
        "-movflags", "+faststart", str(playback),
        "-map", "[poster]", "-frames:v", "1", "-q:v", "3", str(poster),
        *decode_check,
    ]
    result = _run(args, timeout=FFMPEG_TIMEOUT_S)
    if result.returncode != 0:
        raise MediaError(f"The video does not decode to the end ({_ffmpeg_reason(result.stderr, src)}). "
                         "The file is probably truncated or damaged; export it again.")
    frames = [int(v) for v in re.findall(r"^frame=(\d+)$", result.stdout, re.M)]
    if not frames or frames[-1] < 2 or not playback.is_file():
        raise MediaError("The video decoded to fewer than two frames.")
    if not poster.is_file():  # the container over-counted its frames; the first frame will do
        first = _run(["ffmpeg", "-nostdin", "-y", "-v", "error", "-i", str(playback), "-frames:v", "1", "-q:v", "3",
                      str(poster)], timeout=POSTER_TIMEOUT_S)
        if first.returncode != 0:
            raise MediaError(f"No poster frame could be made ({_ffmpeg_reason(first.stderr, playback)}).")
    return frames[-1]


def _hash_in_place(video: Video, src: Path) -> Video | None:
    """Hash a file registered in place; None if the project already has those bytes (this video then failed)."""
    sha256 = storage.sha256_file(src)
    try:
        with transaction.atomic():
            Video.objects.filter(pk=video.pk).update(sha256=sha256)
    except IntegrityError:
        twin = Video.objects.filter(project_id=video.project_id, sha256=sha256).values_list("pk", flat=True).first()
        _fail(video, f"The same bytes as video {twin} of this project; one copy is enough.")
        return None
    video.sha256 = sha256
    return video


def _fail(video: Video, error: str) -> Video:
    video.status, video.error = Video.Status.FAILED, error
    video.save(update_fields=["status", "error", "updated_at"])
    return video


def process_video(*, video: Video) -> Video:
    """(Hash a file registered in place,) probe, validate, render and publish; the video ends ready, or failed
    with a reason."""
    if video.status == Video.Status.READY:  # a redelivered task
        return video
    try:
        with storage.local_file(video.original) as src, storage.scratch_dir() as tmp:
            if video.sha256 is None and _hash_in_place(video, src) is None:
                return video
            info = probe(src)
            validate(info, project=video.project)
            playback, poster = tmp / "playback.mp4", tmp / "poster.jpg"
            frames = render(src, info=info, playback=playback, poster=poster)
            playback_key = storage.content_key(video.sha256, "playback.mp4")
            poster_key = storage.content_key(video.sha256, "poster.jpg")
            storage.put_file(playback, playback_key, move=True)
            storage.put_file(poster, poster_key, move=True)
    except ServiceError as exc:  # a bad file, or its original missing from storage
        return _fail(video, exc.message)
    except Exception as exc:  # a bug or a broken host must not leave the video pending forever
        logger.exception("processing video %s failed", video.pk)
        return _fail(video, f"Processing failed unexpectedly ({type(exc).__name__}: {exc}). Retry later, or "
                            "re-encode the file; the worker log has details.")
    # Shape and timing describe the playback file: what people watch and what exports describe.
    video.status, video.error = Video.Status.READY, ""
    video.playback, video.poster = playback_key, poster_key
    video.width, video.height = info.width - info.width % 2, info.height - info.height % 2  # scaled to even sides
    video.codec = info.codec
    video.fps = float(info.fps)
    video.num_frames = frames
    video.duration_s = frames / float(info.fps)
    video.save(update_fields=["status", "error", "playback", "poster", "width", "height", "codec", "fps",
                              "num_frames", "duration_s", "updated_at"])
    return video
