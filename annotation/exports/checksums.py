"""Content hashes of a version's files, and the ``SHA256SUMS`` listing that the version's sha256 is taken over.

``SHA256SUMS`` has the ``sha256sum`` format (``<hex>  <path>``, sorted by path), so
``sha256sum -c SHA256SUMS`` checks a downloaded version and ``sha256sum SHA256SUMS`` gives its sha256.
Only data files are listed: ``manifest.json`` (times, code version) is not, so the same content gives the
same hash.
"""

import hashlib
from collections.abc import Mapping
from pathlib import Path

SUMS_FILE = "SHA256SUMS"


def write_sums(folder: Path, hashes: Mapping[str, str]) -> str:
    """Write ``SHA256SUMS`` for ``{relative path: hex}``; return the sha256 of that file (the version's hash)."""
    text = "".join(f"{hashes[path]}  {path}\n" for path in sorted(hashes))
    data = text.encode("utf-8")
    (folder / SUMS_FILE).write_bytes(data)
    return hashlib.sha256(data).hexdigest()
