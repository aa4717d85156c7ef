"""Settings for pytest: the real PostgreSQL and Redis on 127.0.0.1 unless the environment says otherwise."""

import os
import tempfile

os.environ.setdefault("VIDPREF_DEV", "1")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/vidpref")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
# One data folder per test session, shared with the Celery worker the tests start (it inherits the variable).
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="vidpref-test-"))

from config.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
