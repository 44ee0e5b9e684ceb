"""communication-service: live ticket updates over WebSockets (ASGI, Channels)."""

from pathlib import Path

from hdms_platform.auth import tokens as auth
from hdms_platform.conf import builders as platform
from hdms_platform.conf import catalogue
from hdms_platform.conf.defaults import *  # what every service sets alike, each named there
from hdms_platform.conf.env import env

SERVICE = "communication"
BASE_DIR = Path(__file__).resolve().parents[3]

HDMS_SERVICE = SERVICE
SECRET_KEY = platform.secret_key()
DATABASES = platform.database(SERVICE, asgi=True)
CACHES = platform.caches(SERVICE)
CELERY_TASK_DEFAULT_QUEUE = catalogue.task_queue(SERVICE)
SPECTACULAR_SETTINGS = platform.api_docs(SERVICE)
STATIC_ROOT = platform.static_root(BASE_DIR)
WHITENOISE_USE_FINDERS = STATIC_ROOT is None

INSTALLED_APPS = [*platform.INSTALLED_APPS, "channels", "apps.conversations"]
ASGI_APPLICATION = "core.asgi.application"
CHANNEL_LAYERS = platform.channel_layers(SERVICE)
HDMS_READINESS = ["database", "cache", "channel_layer", "lag"]  # lag: `degraded`, never `fail` (HDMS_LAG_PROBE)
HDMS_REDIS_ROLES = catalogue.SERVICE_REDIS_ROLES[SERVICE]
HDMS_JWT_PUBLIC_KEY = auth.public_key()
TICKET_SERVICE_URL = platform.ticket_service_url()
EVENT_REPLAY_SECONDS = env.int("EVENT_REPLAY_SECONDS", 24 * 60 * 60, min_value=60)
HDMS_LAG_PROBE = "apps.conversations.selectors.events_lag"  # readiness: `degraded` while events wait
HDMS_RETENTION = [*platform.RETENTION_PURGES, "apps.conversations.services.events_purge"]
PRESENCE_TTL_SECONDS = env.int("PRESENCE_TTL_SECONDS", 30, min_value=2)
# How long an event that arrived before its predecessor waits for it before the gap is reported
# and the events after it are stored anyway; above the longest retry interval (10 s).
EVENT_GAP_WAIT_SECONDS = env.int("EVENT_GAP_WAIT_SECONDS", 120, min_value=15)
# After this long (and as often while the gap lasts) the source is asked to publish the missing
# numbers again from its outbox: a message the broker lost is repaired, not reported.
EVENT_RESEND_AFTER_SECONDS = env.int("EVENT_RESEND_AFTER_SECONDS", 10, min_value=1, max_value=EVENT_GAP_WAIT_SECONDS - 1)
# Sockets: browsers' Origin must be one of these (empty: the hosts of DJANGO_ALLOWED_HOSTS, any
# scheme and port); a client that sends no Origin (not a browser) is not affected.
WEBSOCKET_ALLOWED_ORIGINS = env.list("WEBSOCKET_ALLOWED_ORIGINS", []) or ALLOWED_HOSTS
# Open sockets per user across every process (services.socket_opened): one more closes with 4429.
WEBSOCKET_MAX_PER_USER = env.int("WEBSOCKET_MAX_PER_USER", 20, min_value=1, max_value=10000)
# Client -> server messages per socket: a burst of this many, refilled at this rate per second.
WEBSOCKET_MESSAGE_BURST = env.int("WEBSOCKET_MESSAGE_BURST", 20, min_value=1, max_value=1000)
WEBSOCKET_MESSAGES_PER_SECOND = env.float("WEBSOCKET_MESSAGES_PER_SECOND", 2.0)
