"""The version's ``videos/``: each video once, as ``videos/<sha256>.mp4``, in a folder, a tar or a zip.

The file is the browser-safe H.264 copy made at ingest (the original when there is none); ``<sha256>`` is
the video's identity, the hash of the file as first uploaded, the same value the rows carry. Archives are
built so that the same videos give the same bytes: sorted entries, fixed times, owners and modes, no
compression (video is compressed already).
"""

import hashlib
import tarfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from annotation import storage
from annotation.exports.base import Chunk, video_path
from config.errors import InvalidInput

INCLUDE_VIDEOS = ("", "folder", "tar", "zip")
ARCHIVES = {"tar": "videos.tar", "zip": "videos.zip"}
_BLOCK = 1 << 20
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


class VideoCollector:
    """The distinct videos the rows refer to (memory grows with the number of videos, not of judgments)."""

    def __init__(self):
        self.sha256s: set[str] = set()

    def add(self, chunk: Chunk) -> None:
        for row in chunk.rows:
            self.sha256s.add(row["video_A"]["sha256"])
            self.sha256s.add(row["video_B"]["sha256"])


def _open(sha256: str, key: str):
    try:
        return storage.storage().open(key, "rb")
    except FileNotFoundError:
        raise InvalidInput(f"The file of video {sha256} is missing from storage ({key!r}). Re-import the video, "
                           "or export without videos.", code="video_missing") from None


def _copy(src, dst) -> str:
    digest = hashlib.sha256()
    while block := src.read(_BLOCK):
        digest.update(block)
        dst.write(block)
    return digest.hexdigest()


def _counted(files: Iterable[tuple[str, str]], progress: Callable[[int], None]) -> Iterator[tuple[str, str]]:
    for done, item in enumerate(files):
        yield item
        progress(done + 1)


def write_videos(folder: Path, mode: str, files: Iterable[tuple[str, str]],
                 progress: Callable[[int], None] = lambda done: None) -> dict[str, str]:
    """Write ``files`` ((sha256, storage key), sorted by sha256) the ``mode`` way; return {path: content sha256}.

    ``progress(n)`` is told after each video.
    """
    files = _counted(files, progress)
    if mode == "folder":
        (folder / "videos").mkdir()
        hashes = {}
        for sha256, key in files:
            with _open(sha256, key) as src, open(folder / video_path(sha256), "wb") as dst:
                hashes[video_path(sha256)] = _copy(src, dst)
        return hashes
    archive = folder / ARCHIVES[mode]
    if mode == "tar":
        with tarfile.open(archive, "w", format=tarfile.USTAR_FORMAT) as tar:
            for sha256, key in files:
                with _open(sha256, key) as src:
                    info = tarfile.TarInfo(video_path(sha256))
                    info.size, info.mode, info.mtime = src.size, 0o644, 0
                    tar.addfile(info, src)
    else:
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
            for sha256, key in files:
                info = zipfile.ZipInfo(video_path(sha256), date_time=_ZIP_EPOCH)
                info.external_attr = 0o644 << 16
                with _open(sha256, key) as src, zf.open(info, "w", force_zip64=src.size >= zipfile.ZIP64_LIMIT) as dst:
                    _copy(src, dst)
    return {ARCHIVES[mode]: storage.sha256_file(archive)}
