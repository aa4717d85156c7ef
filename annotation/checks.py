"""System checks: misconfiguration fails early with a message that says what to set."""

import shutil

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def ffmpeg_installed(app_configs, **kwargs):
    missing = [tool for tool in ("ffmpeg", "ffprobe") if shutil.which(tool) is None]
    if missing:
        return [Warning(f"{', '.join(missing)} not found on PATH; video ingest will fail.",
                        hint="Install it: apt-get install -y ffmpeg (make install does this).", id="vidpref.W001")]
    return []


@register(deploy=True)
def production_database(app_configs, **kwargs):
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        return [Error("Production needs PostgreSQL: the annotation queue relies on SELECT ... FOR UPDATE SKIP LOCKED.",
                      hint="Set DATABASE_URL=postgres://user:pass@host:5432/vidpref.", id="vidpref.E001")]
    return []
