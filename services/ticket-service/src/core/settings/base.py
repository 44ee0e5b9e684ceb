"""ticket-service: tickets, comments and their history; publishes ticket events."""

from pathlib import Path

from hdms_platform.auth import tokens as auth
from hdms_platform.conf import builders as platform
from hdms_platform.conf import catalogue
from hdms_platform.conf.defaults import *  # what every service sets alike, each named there

SERVICE = "ticket"
BASE_DIR = Path(__file__).resolve().parents[3]

HDMS_SERVICE = SERVICE
SECRET_KEY = platform.secret_key()
DATABASES = platform.database(SERVICE)
CACHES = platform.caches(SERVICE)
CELERY_TASK_DEFAULT_QUEUE = catalogue.task_queue(SERVICE)
SPECTACULAR_SETTINGS = platform.api_docs(SERVICE)
STATIC_ROOT = platform.static_root(BASE_DIR)
WHITENOISE_USE_FINDERS = STATIC_ROOT is None

INSTALLED_APPS = [*platform.INSTALLED_APPS, "hdms_platform.outbox", "apps.tickets"]
HDMS_READINESS = ["database", "cache", "lag"]  # lag: `degraded`, never `fail` (HDMS_LAG_PROBE)
HDMS_REDIS_ROLES = catalogue.SERVICE_REDIS_ROLES[SERVICE]
HDMS_OUTBOX_PUBLISHER = "apps.tickets.events.publish"
HDMS_LAG_PROBE = platform.OUTBOX_LAG  # readiness: `degraded` while the relay lags
HDMS_RETENTION = [*platform.RETENTION_PURGES, platform.OUTBOX_PURGE]
HDMS_JWT_PUBLIC_KEY = auth.public_key()
