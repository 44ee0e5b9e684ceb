"""The Django (and Celery) settings every service sets the same way, each named here.

A service's `core/settings/base.py` star-imports this module, then names what is its own
(SECRET_KEY, DATABASES, CACHES, its apps, ...) with the builders in `hdms_platform.conf.builders`.
Reads the environment only (no secret but the broker role's password, inside CELERY_BROKER_URL),
so the beat process (`hdms_platform.celery.beat`) can read the Celery part too.
"""

from __future__ import annotations

from typing import Any

from hdms_platform.conf import builders as _builders  # underscored: a star import takes only these settings' names
from hdms_platform.conf.catalogue import task_queue as _task_queue
from hdms_platform.conf.env import env as _env

# The public names (DJANGO_ALLOWED_HOSTS) plus the names and addresses other programs reach this
# one by: loopback (health checks inside a container), HDMS_INTERNAL_HOSTS (compose's service names,
# for service-to-service calls) and this host's own addresses (a scrape of one replica by address).
ALLOWED_HOSTS = [
    *_env.list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1"]),
    *_builders.internal_hosts(_env.list("HDMS_INTERNAL_HOSTS", [])),
]
ROOT_URLCONF = "core.urls"
# Technical error pages (DEBUG): secrets inside URL values masked, and shown to direct loopback callers only.
DEFAULT_EXCEPTION_REPORTER_FILTER = "hdms_platform.web.debugpages.SecretFilter"
DEFAULT_EXCEPTION_REPORTER = "hdms_platform.web.debugpages.LoopbackReporter"
WSGI_APPLICATION = "core.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = False
DATABASE_ROUTERS = ["hdms_platform.db.routers.PrimaryRouter"]
HDMS_PGBOUNCER = _builders.pgbouncer_address()
REST_FRAMEWORK = _builders.rest_framework()
HDMS_TRUSTED_PROXIES = _builders.trusted_proxies()
# Each signed-in user's writes to one service per minute (throttles.py): a runaway script or a
# stolen token cannot fill the tables, the disk or the other users' share of the workers.
WRITES_PER_USER_PER_MINUTE = _env.int("WRITES_PER_USER_PER_MINUTE", 120, min_value=1)
MIDDLEWARE = [
    "hdms_platform.observability.middleware.MetricsMiddleware",  # outermost: times and counts everything below
    "hdms_platform.web.proxies.ForwardedHeadersMiddleware",  # X-Forwarded-* only from TRUSTED_PROXIES
    "hdms_platform.observability.logging.RequestIdMiddleware",  # request id and the access log line
    "hdms_platform.audit.AuditContextMiddleware",
    "hdms_platform.db.budget.DatabaseBudgetMiddleware",  # one database budget per request
    "django.middleware.security.SecurityMiddleware",
    "hdms_platform.web.middleware.NoStoreMiddleware",  # private answers and tokens never cached
    "whitenoise.middleware.WhiteNoiseMiddleware",  # /static/: the API docs' CSS and JS
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",  # APIs use bearer tokens (DRF exempts them)
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Rolling deploys: `manage.py lintmigrations` refuses a migration the previous release's code
# cannot run against (docs/operations.md, "Migrations and rolling deploys").
MIGRATION_LINTER_OPTIONS = {"sql_analyser": "postgresql", "exclude_apps": ["contenttypes", "auth"], "no_cache": True}
AUDIT_RETENTION_DAYS = _env.int("AUDIT_RETENTION_DAYS", 365, min_value=1)
# How long an Idempotency-Key's first answer is replayed (idempotency.py)
IDEMPOTENCY_KEY_HOURS = _env.int("IDEMPOTENCY_KEY_HOURS", 24, min_value=1, max_value=168)
# Readiness says `degraded` (still 200) when the background pipeline lags more than this.
READINESS_LAG_SECONDS = _env.int("READINESS_LAG_SECONDS", 60, min_value=1)
# A request's total time waiting for and running queries (hdms_platform.db.budget): past it, 503.
DB_REQUEST_BUDGET_SECONDS = _env.float("DB_REQUEST_BUDGET_SECONDS", 2.0, min_value=0.1, max_value=60)
RETENTION_BATCH_SIZE = _env.int("RETENTION_BATCH_SIZE", 1000, min_value=10, max_value=100_000)
OUTBOX_RETENTION_HOURS = _env.int("OUTBOX_RETENTION_HOURS", 72, min_value=1)
# Who the relays hand each stream event to (outbox/subscribers.py says how to add one): a Celery task
# on its own queue. `sockets`: communication-service's events worker (celery.app.INGEST_EVENT_TASK).
HDMS_EVENT_SUBSCRIBERS = [{"name": "sockets", "task": "hdms.communication.ingest_event", "queue": _task_queue("communication")}]
STATIC_URL = "/static/"
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
LOGGING = _builders.logging_config(json=_env.choice("LOG_FORMAT", ("console", "json"), "console") == "json")
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
DJANGO_REDIS_LOGGER = "hdms.cache.ignored"

# Celery on the broker role (db 2), read by `app.config_from_object(settings, namespace="CELERY")`;
# each service adds its own CELERY_TASK_DEFAULT_QUEUE (catalogue.task_queue).
_BROKER_SOCKET_TIMEOUT = _env.float("REDIS_SOCKET_TIMEOUT", 1.0) * 5
CELERY_BROKER_URL = _builders.redis_url("broker")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # How long a task held by a worker that died stays invisible before redelivery.
    "visibility_timeout": _env.int("CELERY_VISIBILITY_TIMEOUT", 600, min_value=5),
    # Look for such tasks every 5 s (kombu's default scans every 10 s x 10 = 100 s).
    "unacked_restore_interval": 5,
    "unacked_restore_throttle": 1,
    "socket_timeout": _BROKER_SOCKET_TIMEOUT,
    "socket_connect_timeout": _BROKER_SOCKET_TIMEOUT,
    "retry_on_timeout": True,
    "health_check_interval": 10,
    "global_keyprefix": _builders.REDIS_KEY_PREFIX["broker"],  # every key and channel, for the ACL
}
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"global_keyprefix": _builders.REDIS_KEY_PREFIX["broker"]}
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's Django fixup closes the database connection around every task unless this is set (then
# every 2N tasks); hdms_platform.celery.app keeps it like a request instead.
CELERY_DB_REUSE_MAX = 10**9


def celery_settings() -> dict[str, Any]:
    """The CELERY_* settings above, for a Celery app configured without Django (the beat)."""
    return {name: value for name, value in globals().items() if name.startswith("CELERY_")}
