"""Settings for pytest: the real PostgreSQL and Redis on 127.0.0.1 unless the environment says otherwise."""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("VIDPREF_DEV", "1")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/vidpref")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
# One data folder per test session, shared with the Celery worker the tests start (it inherits the variable).
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="vidpref-test-"))

from config.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # A file, not Django's shared in-memory test database: the threads of the concurrency tests and the Celery
    # worker the tests start must reach it, and only a file has WAL and the busy timeout.
    DATABASES["default"]["TEST"] = {"NAME": str(Path(DATA_DIR) / "test.sqlite3")}  # noqa: F405
# Cache keys of this session only: ids start at 1 again in every test database, so a figure cached by an earlier
# session (or by the PostgreSQL run before the SQLite one in `make test`) must not be read as this one's.
CACHES["default"]["KEY_PREFIX"] = Path(DATA_DIR).name  # noqa: F405
