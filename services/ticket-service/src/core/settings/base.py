"""ticket-service: tickets, comments and their history; publishes ticket events."""

from pathlib import Path

from hdms_platform import auth
from hdms_platform import settings as platform

SERVICE = "ticket"
BASE_DIR = Path(__file__).resolve().parents[3]

globals().update(platform.common(SERVICE, base_dir=BASE_DIR))

INSTALLED_APPS = [*platform.INSTALLED_APPS, "hdms_platform.outbox", "apps.tickets"]
HDMS_READINESS = ["database", "cache", "lag"]  # lag: `degraded`, never `fail` (HDMS_LAG_PROBE)
HDMS_REDIS_ROLES = platform.SERVICE_REDIS_ROLES[SERVICE]
globals().update(platform.celery_config(SERVICE))  # sends outbox events to communication-service's queue
HDMS_OUTBOX_PUBLISHER = "apps.tickets.events.publish"
HDMS_LAG_PROBE = platform.OUTBOX_LAG  # readiness: `degraded` while the relay lags
HDMS_RETENTION = [*platform.RETENTION_PURGES, platform.OUTBOX_PURGE]
HDMS_JWT_PUBLIC_KEY = auth.public_key()
