"""File responses for media players: HTTP Range (206 slices), conditional requests, and production offload.

Callers check who may see the file first. With ``MEDIA_ACCEL_REDIRECT_PREFIX`` set, nginx serves the bytes
(``X-Accel-Redirect`` to an ``internal`` location that aliases MEDIA_ROOT); with remote storage the client is
redirected to a short-lived presigned URL; otherwise Django streams the file itself.
"""

import re
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.utils.http import http_date, parse_http_date_safe
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse

from annotation import storage

CHUNK_BYTES = 256 * 1024
CACHE_CONTROL = "private, max-age=3600"  # content-addressed, so it never changes; but access-controlled
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class _Unsatisfiable(Exception):
    pass


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single Range, None to send the whole file; raises _Unsatisfiable (416).

    Malformed and multi-part ranges are ignored (the whole file is sent), as RFC 9110 allows.
    """
    match = _RANGE.match(header.replace(" ", ""))
    if not match or match.group(1) == match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if first == "":  # the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise _Unsatisfiable
        return max(0, size - length), size - 1
    start = int(first)
    if last != "" and int(last) < start:
        return None
    if start >= size:
        raise _Unsatisfiable
    return start, size - 1 if last == "" else min(int(last), size - 1)


def _slice(path: Path, start: int, length: int):
    with open(path, "rb") as f:
        f.seek(start)
        while length > 0:
            block = f.read(min(CHUNK_BYTES, length))
            if not block:
                return
            length -= len(block)
            yield block


def _if_range_allows(request: HttpRequest, etag: str, mtime: int) -> bool:
    """A Range applies only if the client's copy (If-Range: ETag or date) is still the current one."""
    value = request.headers.get("If-Range")
    if not value:
        return True
    if value.startswith(('"', "W/")):
        return value == etag
    since = parse_http_date_safe(value)
    return since is not None and since >= mtime


def _accel_path(path: Path) -> str | None:
    prefix = settings.MEDIA_ACCEL_REDIRECT_PREFIX
    root = Path(settings.MEDIA_ROOT).resolve()
    resolved = path.resolve()
    if not prefix or not resolved.is_relative_to(root):
        return None
    return prefix.rstrip("/") + "/" + quote(resolved.relative_to(root).as_posix())


def ranged_file_response(request: HttpRequest, path: Path, *, content_type: str = "video/mp4") -> HttpResponse:
    """The file at ``path`` with Range support (200, 206 or 416; 304 for a matching If-None-Match).

    The response names no file: no Content-Disposition, so annotators never see where media lives.
    """
    try:
        stat = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise Http404("The media file is missing.") from None
    size, mtime = stat.st_size, int(stat.st_mtime)
    etag = f'"{stat.st_mtime_ns:x}-{size:x}"'
    common = {"Accept-Ranges": "bytes", "ETag": etag, "Last-Modified": http_date(mtime),
              "Cache-Control": CACHE_CONTROL, "X-Content-Type-Options": "nosniff"}

    accel = _accel_path(path)
    if accel is not None:  # nginx does ranges and conditionals itself
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = accel
        response["Cache-Control"] = CACHE_CONTROL
        return response
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        return _with(HttpResponse(status=304), common)

    try:
        byte_range = _byte_range(request.headers.get("Range", ""), size) if _if_range_allows(request, etag, mtime) else None
    except _Unsatisfiable:
        return _with(HttpResponse(status=416, content_type="text/plain"), {**common, "Content-Range": f"bytes */{size}"})
    head = request.method == "HEAD"
    if byte_range is None:
        response = HttpResponse(content_type=content_type) if head else FileResponse(open(path, "rb"), content_type=content_type)
        response.headers.pop("Content-Disposition", None)
        return _with(response, {**common, "Content-Length": str(size)})
    start, end = byte_range
    length = end - start + 1
    body = [] if head else _slice(path, start, length)
    response = StreamingHttpResponse(body, status=206, content_type=content_type)
    return _with(response, {**common, "Content-Length": str(length), "Content-Range": f"bytes {start}-{end}/{size}"})


def _with(response: HttpResponse, headers: dict[str, str]) -> HttpResponse:
    for name, value in headers.items():
        response[name] = value
    return response


def media_responses(*content_types: str) -> dict:
    """The OpenAPI responses of a ranged media route serving ``content_types``: the whole file, a range, not
    modified, a range past the end, and the presigned-URL redirect of remote storage."""
    binary = OpenApiResponse(OpenApiTypes.BINARY)
    responses = {(code, kind): binary for code in (200, 206) for kind in content_types}
    return {**responses, 302: OpenApiResponse(description="Remote storage: a presigned URL to the file."),
            304: OpenApiResponse(description="Not modified (If-None-Match)."),
            (416, "text/plain"): OpenApiResponse(description="The Range lies past the end of the file.")}


def storage_file_response(request: HttpRequest, key: str, *, content_type: str = "video/mp4") -> HttpResponse:
    """A stored media file: a presigned-URL redirect for remote storage, else ``ranged_file_response``."""
    path = storage.local_path(key)
    if path is None:
        return HttpResponseRedirect(storage.storage().url(key))
    return ranged_file_response(request, path, content_type=content_type)
