"""Where media live: the local disk, or an S3-compatible bucket configured from the environment."""

import os
from collections.abc import Mapping


def media_storage(environ: Mapping[str, str] = os.environ) -> dict:
    """The ``STORAGES["default"]`` entry: S3 through django-storages when ``AWS_STORAGE_BUCKET_NAME`` is set.

    django-storages finds the keys in the environment itself (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``)
    but reads everything else from Django settings only, so the rest is passed from the environment here.
    """
    bucket = environ.get("AWS_STORAGE_BUCKET_NAME")
    if not bucket:
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    options = {
        "bucket_name": bucket,
        "endpoint_url": environ.get("AWS_S3_ENDPOINT_URL"),  # MinIO, R2, Ceph, ...; unset for AWS
        "region_name": environ.get("AWS_S3_REGION_NAME"),
        "addressing_style": environ.get("AWS_S3_ADDRESSING_STYLE"),  # "path" for most S3-compatible servers
        "signature_version": "s3v4",  # the presigned URLs every S3-compatible server accepts
        # Long enough for an annotator to watch, loop and seek without the player's URL expiring.
        "querystring_expire": int(environ.get("AWS_QUERYSTRING_EXPIRE", "3600")),
    }
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {k: v for k, v in options.items() if v}}
