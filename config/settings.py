"""Progression Hub settings: every value from the environment, each with an embedded default.

With nothing set the project runs on SQLite, local memory and in-process tasks; with
DATABASE_URL and REDIS_URL set it runs on PostgreSQL and Redis. See README's table.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.env import (
    cache_config,
    celery_config,
    channel_layers_config,
    database_config,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_rate,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
(BASE_DIR / "var").mkdir(exist_ok=True)

DEBUG = env_bool("DEBUG", False)
DEV_SECRET_KEY = "dev-insecure-progression-hub-key-do-not-use-in-production"
SECRET_KEY = env_str("SECRET_KEY", DEV_SECRET_KEY)
if not DEBUG and SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is the development default while DEBUG is off: set SECRET_KEY "
        "(or DEBUG=1 for local development)."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "ninja",  # ships Swagger UI's assets as static files: /api/docs works offline
    "communities",
    "progression",
    "events_app",
    "jobs",
    "realtime",
    "pages",
]

MIDDLEWARE = [
    "config.logging.RequestIdMiddleware",
    "config.middleware.ApiHostMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Sync-only, so it sits next to the (sync) views: anywhere earlier it would make Django run
    # every middleware above it with thread hops (measured: /healthz ~250 -> ~400 req/s).
    "config.middleware.ApiEdgeMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

# --- Data stores -------------------------------------------------------------------------
DATABASE_URL = env_url("DATABASE_URL", schemes=("postgres", "postgresql"))
DB_POOL_MAX = env_int("DB_POOL_MAX", 20, minimum=1, maximum=500)
DB_POOL_TIMEOUT = env_float("DB_POOL_TIMEOUT", 10.0, minimum=0.1)
DATABASES = {
    "default": database_config(
        DATABASE_URL,
        base_dir=BASE_DIR,
        pool_max=DB_POOL_MAX,
        pool_timeout=DB_POOL_TIMEOUT,
        test_name=env_str("TEST_DB_NAME", "") or None,
        sqlite_path=env_str("SQLITE_PATH", "") or None,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_url("REDIS_URL", schemes=("redis", "rediss"))
CACHES = cache_config(REDIS_URL)
CHANNEL_CAPACITY = env_int("CHANNEL_CAPACITY", 1000, minimum=10)
CHANNEL_LAYERS = channel_layers_config(REDIS_URL, capacity=CHANNEL_CAPACITY)

_celery = celery_config(REDIS_URL)
CELERY_BROKER_URL = _celery["BROKER_URL"]
TASKS_IN_PROCESS = _celery["IN_PROCESS"]
TASKS_IN_PROCESS_THREADS = env_int("TASKS_IN_PROCESS_THREADS", 4, minimum=1, maximum=64)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "resolve-due-votes": {"task": "progression.tasks.resolve_due_votes_task", "schedule": 2.0},
    "reconcile-unlocks": {"task": "progression.tasks.reconcile_task", "schedule": 30.0},
    "reap-stale-jobs": {
        "task": "jobs.tasks.reap_stale_jobs_task",
        "schedule": env_float("JOBS_REAPER_INTERVAL_SECONDS", 15.0, minimum=0.5),
    },
    "prune-finished-jobs": {"task": "jobs.tasks.prune_finished_jobs_task", "schedule": 3600.0},
}
# Without Redis there is no beat process: the web process runs the schedule on a thread.
BEAT_IN_PROCESS = env_bool("BEAT_IN_PROCESS", REDIS_URL is None)

# --- Jobs (docs/jobs.md) --------------------------------------------------------------------
JOBS_HEARTBEAT_SECONDS = env_float("JOBS_HEARTBEAT_SECONDS", 5.0, minimum=0.1)
JOBS_STALE_SECONDS = env_float("JOBS_STALE_SECONDS", 60.0, minimum=1.0)
JOBS_QUEUED_RESEND_SECONDS = env_float("JOBS_QUEUED_RESEND_SECONDS", 300.0, minimum=1.0)
JOBS_MAX_ATTEMPTS = env_int("JOBS_MAX_ATTEMPTS", 3, minimum=1, maximum=20)
JOBS_RETENTION_SECONDS = env_int("JOBS_RETENTION_SECONDS", 7 * 86400, minimum=60)
JOBS_PROGRESS_EVENT_INTERVAL_MS = env_int("JOBS_PROGRESS_EVENT_INTERVAL_MS", 200, minimum=0)
JOBS_CACHE_SECONDS = env_int("JOBS_CACHE_SECONDS", 3600, minimum=1)

# --- Auth, sessions, i18n ----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
# Messages (which carry a new token's secret once) stay server-side, never in a cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# The web process serves /static/ itself (small files, few of them); put a CDN in front if needed.
SERVE_STATIC = env_bool("SERVE_STATIC", True)

# --- API -----------------------------------------------------------------------------------
# Bodies above this are refused with 413 before any parsing (a batch of 1,000 events fits).
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 1_048_576, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
# Anonymous rate limits key on the client address: trust X-Forwarded-For only from this many
# proxies in front of us (0: use the socket's address; a forged header buys nothing).
# config/edge.py's client_address reads it (every edge: Ninja, ingest, streams); the server in
# front of Django must pass the socket's address untouched (no proxy-header rewriting).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
NINJA_NUM_PROXIES = TRUSTED_PROXY_COUNT
# Failed bearer-token authentications per client address (a bucket of this many, refilled over
# the period): past it, every token-bearing request from that address is answered 429.
AUTH_FAILURE_RATE = env_rate("AUTH_FAILURE_RATE", "20/m")
API_RATE_ANON = env_rate("API_RATE_ANON", "120/m")
API_RATE_AUTHENTICATED = env_rate("API_RATE_AUTHENTICATED", "6000/m")
TOKEN_LAST_USED_RESOLUTION_SECONDS = env_int("TOKEN_LAST_USED_RESOLUTION_SECONDS", 60, minimum=0)
# Engagement group commit (progression/ingest_queue.py), per web process: writer threads (each
# holds one pooled connection while it writes; SQLite has one writer anyway), requests allowed to
# wait before the edge answers 429, and events per write.
INGEST_WRITERS = env_int(
    "INGEST_WRITERS", 2 if DATABASE_URL else 1, minimum=1, maximum=max(1, DB_POOL_MAX // 2)
)
INGEST_MAX_WAITING = env_int("INGEST_MAX_WAITING", 400, minimum=1)
# SQLite caps a statement's parameters (32,766; 10 per event): at most 3,000 events there.
INGEST_MAX_EVENTS_PER_WRITE = env_int(
    "INGEST_MAX_EVENTS_PER_WRITE",
    5000 if DATABASE_URL else 1000,
    minimum=1,
    maximum=50_000 if DATABASE_URL else 3000,
)

# --- Realtime ------------------------------------------------------------------------------
OUTBOX_RETENTION_SECONDS = env_int("OUTBOX_RETENTION_SECONDS", 24 * 3600, minimum=60)
OUTBOX_RELAY_GRACE_SECONDS = env_float("OUTBOX_RELAY_GRACE_SECONDS", 1.0, minimum=0.0)
OUTBOX_RELAY_INTERVAL_SECONDS = env_float("OUTBOX_RELAY_INTERVAL_SECONDS", 0.5, minimum=0.05)
# Without Redis there is no relay process: the web process runs the relay on a thread.
OUTBOX_RELAY_IN_PROCESS = env_bool("OUTBOX_RELAY_IN_PROCESS", REDIS_URL is None)
STREAM_QUEUE_SIZE = env_int("STREAM_QUEUE_SIZE", 256, minimum=8)
STREAM_GAP_GRACE_SECONDS = env_float("STREAM_GAP_GRACE_SECONDS", 0.1, minimum=0.0)
STREAM_KEEPALIVE_SECONDS = env_float("STREAM_KEEPALIVE_SECONDS", 15.0, minimum=0.5)
STREAM_ACCESS_RECHECK_SECONDS = env_float("STREAM_ACCESS_RECHECK_SECONDS", 60.0, minimum=1.0)
STREAM_REPLAY_PAGE = env_int("STREAM_REPLAY_PAGE", 500, minimum=10)
STREAM_RETRY_MS = env_int("STREAM_RETRY_MS", 3000, minimum=100)
METRICS_TOKEN = env_str("METRICS_TOKEN", "")

# --- Suggestions and proposals (docs/jobs.md, "Suggestions → proposals") -------------------
# Per viewer and community (a bucket of this many, refilled over the period): past it, 429.
SUGGESTION_RATE = env_rate("SUGGESTION_RATE", "5/m")
# Sign-in attempts per client address in 5 minutes (pages/ratelimit.py).
SIGN_IN_ATTEMPTS = env_int("SIGN_IN_ATTEMPTS", 10, minimum=1)
# generate_proposals: the most pending suggestions one run takes (oldest first); a group needs
# this many distinct viewers to become a proposal; a suggestion nobody echoes is dismissed
# after this many runs; a group joins a node or an open proposal whose name matches this well
# (rapidfuzz token_set_ratio, 0-100).
PROPOSALS_MAX_SUGGESTIONS = env_int("PROPOSALS_MAX_SUGGESTIONS", 20_000, minimum=1)
PROPOSALS_MIN_SUPPORTERS = env_int("PROPOSALS_MIN_SUPPORTERS", 2, minimum=1)
PROPOSALS_LONELY_RUNS = env_int("PROPOSALS_LONELY_RUNS", 3, minimum=1, maximum=1000)
PROPOSALS_MATCH_SCORE = env_int("PROPOSALS_MATCH_SCORE", 88, minimum=50, maximum=100)

# --- Health --------------------------------------------------------------------------------
READYZ_TIMEOUT_SECONDS = env_float("READYZ_TIMEOUT_SECONDS", 2.0, minimum=0.1)

# --- Logging: one line per record on stdout, with the request or task id ------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL must be a logging level name, got {LOG_LEVEL!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "config.logging.ContextFilter"}},
    "formatters": {
        "line": {
            "()": "config.logging.SingleLineFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(context_id)s] %(message)s",
        }
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "filters": ["context"],
            "formatter": "line",
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        "django.db.backends": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        # In-process tasks (embedded mode) would log a line per run of every beat entry (every
        # 2 s); failures still log at ERROR. A real worker keeps Celery's own task log.
        **({"celery.app.trace": {"level": "WARNING"}} if TASKS_IN_PROCESS else {}),
    },
}

# --- Demo ----------------------------------------------------------------------------------
DEMO_PASSWORD = env_str("DEMO_PASSWORD", "")
