"""Settings, all from environment variables.

With no ``DATABASE_URL`` and no ``REDIS_URL`` the app runs self-contained: SQLite and a filesystem Celery
broker under ``DATA_DIR`` (``make run`` starts a worker next to the web server). Set them for PostgreSQL
and Redis, as tests and production do.
"""

import os
from pathlib import Path

import dj_database_url

from config.media_storage import media_storage

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# DEV: a local machine over plain http (make run, tests): no HTTPS-only cookies or redirects, no SECRET_KEY needed.
DEV = env_bool("VIDPREF_DEV", DEBUG)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEV:
        raise RuntimeError("SECRET_KEY is not set. Set SECRET_KEY (production) or VIDPREF_DEV=1 (local use).")
    SECRET_KEY = "dev-only-insecure-key-" + "x" * 40

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR / "data"))
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", DATA_DIR / "media"))
IMPORT_ROOT = Path(os.environ.get("IMPORT_ROOT", DATA_DIR / "imports"))
EXPORT_ROOT = Path(os.environ.get("EXPORT_ROOT", DATA_DIR / "exports"))
RUNS_ROOT = Path(os.environ.get("RUNS_ROOT", DATA_DIR / "runs"))
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))

INSTALLED_APPS = [
    "config",  # first, so that its runserver (bounded, no persistent connections) is the one manage.py runs
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "csp",
    "annotation",
    "rewardlab",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{DATA_DIR / 'vidpref.sqlite3'}", conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60"))
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The embedded default under a small team: WAL lets readers run beside the one writer, every transaction
    # takes the write lock when it begins (IMMEDIATE: no deadlock when a reader turns writer, so no instant
    # "database is locked"), and a writer waits up to 30 s for its turn instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CELERY_BROKER_URL = REDIS_URL
    # Redis redelivers unacked tasks after this; it must outlast the longest gpu task or runs start twice.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 12 * 3600}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "filesystem://"
    _broker_dir = DATA_DIR / "broker"
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),  # kombu's default is ./control, in the checkout
        "store_processed": False,
    }

# Task state lives in our own tables (jobs, runs); Celery results are not needed.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A broker blip must not cancel a training run: the task goes on and acks over the new connection (tested with
# a Redis restart). Celery 6 flips this default, so it is set here.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_SOFT_TIME_LIMIT = int(os.environ.get("CELERY_TASK_SOFT_TIME_LIMIT", "1800"))
CELERY_TASK_TIME_LIMIT = int(os.environ.get("CELERY_TASK_TIME_LIMIT", "1900"))
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ROUTES = {
    "workers.media.*": {"queue": "media"},
    "workers.runs.*": {"queue": "gpu"},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Videos, import jobs and dataset versions whose worker died (no heartbeat for this long) go back to the queue,
# or fail once they have been put back JOB_MAX_REQUEUES times (annotation/services/stale_jobs.py). It must
# outlast one task's quiet spell: a video's render, an import slice (300 s), a dataset version's longest chunk.
JOB_STALE_AFTER_SECONDS = float(os.environ.get("JOB_STALE_AFTER_SECONDS", "900"))
JOB_MAX_REQUEUES = int(os.environ.get("JOB_MAX_REQUEUES", "3"))
JOB_SWEEP_SECONDS = float(os.environ.get("JOB_SWEEP_SECONDS", "60"))
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")  # not the working directory

# Upkeep from celery beat (the `beat` service), all of it here: lapsed leases go back to the queue; runs whose
# heartbeat stopped are taken back and promoted reward models keep a project's new videos scored; stale jobs
# go back to the queue (JOB_* above).
LEASE_SWEEP_SECONDS = float(os.environ.get("LEASE_SWEEP_SECONDS", "60"))
RUN_SWEEP_SECONDS = float(os.environ.get("RUN_SWEEP_SECONDS", "30"))
# Project pipelines (rewardlab/services/pipelines.py): fire due triggers, advance executions no worker reported.
PIPELINE_TICK_SECONDS = float(os.environ.get("PIPELINE_TICK_SECONDS", "30"))
CELERY_BEAT_SCHEDULE = {
    "expire-leases": {"task": "workers.assignments.expire_leases", "schedule": LEASE_SWEEP_SECONDS,
                      "options": {"expires": LEASE_SWEEP_SECONDS}},
    "sweep-runs": {"task": "workers.run_ops.sweep_runs", "schedule": RUN_SWEEP_SECONDS,
                   "options": {"expires": RUN_SWEEP_SECONDS}},
    "keep-videos-scored": {"task": "workers.run_ops.keep_videos_scored", "schedule": RUN_SWEEP_SECONDS,
                           "options": {"expires": RUN_SWEEP_SECONDS}},
    "sweep-stale-jobs": {"task": "workers.jobs.sweep_stale_jobs", "schedule": JOB_SWEEP_SECONDS,
                         "options": {"expires": JOB_SWEEP_SECONDS}},
    "pipeline-tick": {"task": "workers.pipelines.pipeline_tick", "schedule": PIPELINE_TICK_SECONDS,
                      "options": {"expires": PIPELINE_TICK_SECONDS}},
}

# Runs (rewardlab/conf.py names what each one means). A test worker inherits the environment, so
# RUN_HEARTBEAT_SECONDS=0.2 in its environment makes a fast heartbeat.
RUN_QUEUE = os.environ.get("RUN_QUEUE", "gpu")
RUN_HEARTBEAT_SECONDS = float(os.environ.get("RUN_HEARTBEAT_SECONDS", "5"))
RUN_STALE_AFTER_SECONDS = float(os.environ.get("RUN_STALE_AFTER_SECONDS", "90"))
RUN_RESEND_AFTER_SECONDS = float(os.environ.get("RUN_RESEND_AFTER_SECONDS", "3600"))
RUN_MAX_ATTEMPTS = int(os.environ.get("RUN_MAX_ATTEMPTS", "3"))
RUN_PROGRESS_FLUSH_SECONDS = float(os.environ.get("RUN_PROGRESS_FLUSH_SECONDS", "1"))
RUN_DEVICE = os.environ.get("RUN_DEVICE", "auto")
RUN_LAUNCHER = os.environ.get(
    "RUN_LAUNCHER", "{python} -m torch.distributed.run --standalone --nproc_per_node {n} -m rewardlab.child")
# Training runs for hours: the project-wide task time limits above do not apply to them.
RUN_TIME_LIMIT_SECONDS = int(os.environ.get("RUN_TIME_LIMIT_SECONDS", str(7 * 24 * 3600)))
VIDPREF_GPUS = env_list("VIDPREF_GPUS", "")
BASE_MODELS_ROOT = Path(os.environ.get("BASE_MODELS_ROOT", DATA_DIR / "models"))
LATENT_CACHE_DIR = Path(os.environ.get("VIDPREF_LATENT_CACHE") or RUNS_ROOT / "latent-cache")

# The code version written into each dataset version's manifest (the Docker image sets it).
VIDPREF_COMMIT = os.environ.get("VIDPREF_COMMIT", "")
# Where `make run` serves (scripts/run-dev.sh); the demo command prints it.
BIND = os.environ.get("BIND", "127.0.0.1:8000")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "config.schema.AutoSchema",
    "EXCEPTION_HANDLER": "config.api_errors.exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "config.api.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 100,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Failed sign-ins (config/throttles.py), per username and per client address.
    "DEFAULT_THROTTLE_RATES": {"login_username": "20/min", "login_ip": "100/min"},
    # Proxies in front of the app whose X-Forwarded-For is trusted for the client address (0: REMOTE_ADDR).
    "NUM_PROXIES": int(os.environ.get("NUM_PROXIES", "0")),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "VidPref API",
    "DESCRIPTION": "Human preference data for video generators: annotation, datasets, VideoReward, alignment.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a "status"; name each choice set after its model.
    "ENUM_NAME_OVERRIDES": {
        "VideoStatusEnum": "annotation.models.Video.Status",
        "AssignmentStatusEnum": "annotation.models.Assignment.Status",
        "JobStatusEnum": "annotation.models.ImportJob.Status",
        "RunStatusEnum": "rewardlab.models.Run.Status",
    },
}

# Upload and media limits; per-project limits live on the Project.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
MAX_UPLOAD_BYTES = int(os.environ.get("MAX_UPLOAD_BYTES", str(500 * 1024 * 1024)))

# Media on local disk, or in an S3-compatible bucket when AWS_STORAGE_BUCKET_NAME is set (config/media_storage.py).
STORAGES = {
    "default": media_storage(),
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEV
        else "config.static_storage.StaticStorage"
    },
}

# Serve media with X-Accel-Redirect through nginx in production (empty: Django streams it with Range support).
MEDIA_ACCEL_REDIRECT_PREFIX = os.environ.get("MEDIA_ACCEL_REDIRECT_PREFIX", "")

WHITENOISE_USE_FINDERS = DEV
if DEV:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every start without it; finders serve in DEV

if not DEV:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True

# Content-Security-Policy on every response (django-csp): scripts only from our own static files, never inline.
# Inline style attributes stay allowed (progress bars set their width); media may come from the bucket's
# presigned URLs. /api/docs/ widens it for the Swagger UI bundle from its CDN (config/urls.py).
_MEDIA_ORIGINS = ["https:"] if STORAGES["default"]["BACKEND"] != "django.core.files.storage.FileSystemStorage" else []
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", *_MEDIA_ORIGINS],
        "media-src": ["'self'", *_MEDIA_ORIGINS],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # Django's own console handler (on with DEBUG) would print every "django" line a second time via the root.
    "loggers": {"django": {"handlers": [], "level": os.environ.get("LOG_LEVEL", "INFO"), "propagate": True}},
}
