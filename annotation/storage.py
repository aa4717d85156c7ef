"""Where media files live: content-addressed keys in Django's default storage.

Local disk (``FileSystemStorage`` under ``MEDIA_ROOT``) is the fast path: files are published with an atomic
rename and served from their path. Any other storage (S3-compatible through django-storages) is reached
through the storage API: files are uploaded, downloaded to a scratch folder for ffmpeg, and served by a
presigned URL.
"""

import hashlib
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, default_storage

from config.errors import InvalidInput

_EXT = re.compile(r"^\.[a-z0-9]{1,8}$")


def storage() -> Storage:
    return default_storage


def local_root() -> Path | None:
    """MEDIA_ROOT when media is on local disk, None for remote storage."""
    return Path(settings.MEDIA_ROOT) if isinstance(storage(), FileSystemStorage) else None


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def content_key(sha256: str, name: str) -> str:
    """``videos/ab/abcdef…/name``: one folder per distinct file, shared by projects that hold the same bytes."""
    return f"videos/{sha256[:2]}/{sha256}/{name}"


def safe_suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return suffix if _EXT.match(suffix) else ".bin"


def check_key(key: str) -> str:
    """A storage key from outside (a manifest) must stay inside the storage: no absolute paths, no ``..``."""
    parts = Path(key).parts
    if not key or key.startswith(("/", "\\")) or ".." in parts or "\\" in key:
        raise InvalidInput(f"Storage key {key!r} is not allowed: give a relative key without '..'.")
    return key


def exists(key: str) -> bool:
    return storage().exists(key)


def size(key: str) -> int:
    return storage().size(key)


def put_hashed(src: Path, name: str) -> tuple[str, str]:
    """Store ``src`` under its content key; returns (sha256, key). On local disk the file is read once, hashed
    while it is copied, then renamed into place; bytes already stored are not written twice."""
    root = local_root()
    if root is None:
        sha256 = sha256_file(src)
        key = content_key(sha256, name)
        if not exists(key):
            put_file(src, key)
        return sha256, key
    tmp = root / "tmp" / f".{uuid.uuid4().hex}.part"
    digest = hashlib.sha256()
    try:
        with open(src, "rb") as f, _created(tmp) as out:
            while block := f.read(1 << 20):
                digest.update(block)
                out.write(block)
        key = content_key(digest.hexdigest(), name)
        dest = root / key
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return digest.hexdigest(), key


def _created(path: Path):
    """``path`` opened for writing, its folder made on first use (imports write thousands of files a second)."""
    try:
        return open(path, "wb")
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "wb")


# Originals registered in place on the shared import file system: ``import-root:<path under IMPORT_ROOT>``.
IMPORT_ROOT_PREFIX = "import-root:"


def _import_root_file(key: str) -> Path:
    root = Path(settings.IMPORT_ROOT).resolve()
    path = (root / key.removeprefix(IMPORT_ROOT_PREFIX)).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise InvalidInput(f"No file {key.removeprefix(IMPORT_ROOT_PREFIX)!r} under the import root any more.")
    return path


def put_file(src: Path, key: str, *, move: bool = False) -> None:
    """Publish ``src`` under ``key``; readers never see a half-written file. Existing keys are replaced.

    ``move``: ``src`` is a scratch file that may be renamed into place instead of copied.
    """
    root = local_root()
    if root is None:
        if storage().exists(key):
            storage().delete(key)
        with open(src, "rb") as f:
            saved = storage().save(key, File(f, name=Path(key).name))
        if saved != key:  # keys are content addresses: a storage that renames on save would lose the file
            raise RuntimeError(f"storage saved {key!r} as {saved!r}; configure it to overwrite (file_overwrite)")
        return
    dest = root / key
    dest.parent.mkdir(parents=True, exist_ok=True)
    if move:
        try:
            os.replace(src, dest)
            return
        except OSError:  # another file system: copy below
            pass
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def local_path(key: str) -> Path | None:
    """The file's path on local disk, or None when media is remote."""
    root = local_root()
    return None if root is None else root / check_key(key)


@contextmanager
def local_file(key: str) -> Iterator[Path]:
    """A local path to read the stored file from (a scratch download for remote storage)."""
    if key.startswith(IMPORT_ROOT_PREFIX):
        yield _import_root_file(key)
        return
    path = local_path(key)
    if path is not None:
        if not path.is_file():
            raise InvalidInput(f"No file stored under {key!r}.")
        yield path
        return
    if not storage().exists(key):
        raise InvalidInput(f"No file stored under {key!r}.")
    with scratch_dir() as tmp:
        target = tmp / Path(key).name
        with storage().open(key, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        yield target


@contextmanager
def scratch_dir() -> Iterator[Path]:
    """A temporary folder next to the media (same file system, so publishing is a rename) or in /tmp."""
    root = local_root()
    parent = None
    if root is not None:
        parent = root / "tmp"
        parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vidpref-", dir=parent) as tmp:
        yield Path(tmp)


@contextmanager
def uploaded_file_path(upload) -> Iterator[Path]:
    """A path for a Django UploadedFile: its temporary file when it has one, else a scratch copy."""
    if hasattr(upload, "temporary_file_path"):
        yield Path(upload.temporary_file_path())
        return
    with scratch_dir() as tmp:
        target = tmp / f"upload{safe_suffix(upload.name or '')}"
        with open(target, "wb") as dst:
            for chunk in upload.chunks():
                dst.write(chunk)
        yield target
