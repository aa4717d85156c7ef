"""Django for a bench script: its own PostgreSQL database (created and migrated if missing), own data folder."""

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def django_bench(database: str) -> None:
    """Set up Django on ``DATABASE_URL`` if given, else on the local PostgreSQL database ``database``."""
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("VIDPREF_DEV", "1")
    os.environ.setdefault("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{database}")
    if "DATA_DIR" not in os.environ:  # a scratch folder; its media go at exit, logs stay
        os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix=f"{database}-")
        atexit.register(shutil.rmtree, Path(os.environ["DATA_DIR"]) / "media", ignore_errors=True)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    with connection._nodb_cursor() as cursor:  # the maintenance database, as Django's test runner does
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [connection.settings_dict["NAME"]])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{connection.settings_dict["NAME"]}"')
    call_command("migrate", verbosity=0)
