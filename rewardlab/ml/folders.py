"""Checkpoint folders swapped in whole: a crash at any moment leaves the previous checkpoint or the new one."""

from __future__ import annotations

import shutil
from pathlib import Path


def _old(folder: Path) -> Path:
    return folder.with_name(folder.name + ".old")


def recover_folder(folder: str | Path) -> Path:
    """Undo a swap cut short between its two renames: the previous folder is still there as ``.old``."""
    folder = Path(folder)
    if not folder.exists() and _old(folder).is_dir():
        _old(folder).rename(folder)
    return folder


def swap_in(tmp: Path, folder: Path) -> Path:
    """Replace ``folder`` with the fully written ``tmp``."""
    folder = recover_folder(folder)
    old = _old(folder)
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder
