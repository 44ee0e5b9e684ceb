"""communication-service: live ticket updates over WebSockets (ASGI, Channels)."""

from pathlib import Path

from hdms_platform import auth
from hdms_platform import settings as platform
from hdms_platform.env import env

SERVICE = "communication"
BASE_DIR = Path(__file__).resolve().parents[3]

globals().update(platform.common(SERVICE, base_dir=BASE_DIR, asgi=True))

INSTALLED_APPS = [*platform.INSTALLED_APPS, "channels", "apps.conversations"]
ASGI_APPLICATION = "core.asgi.application"
CHANNEL_LAYERS = platform.channel_layers(SERVICE)
HDMS_READINESS = ["database", "cache", "channel_layer"]
HDMS_REDIS_ROLES = ("cache", "channels", "broker")
HDMS_JWT_PUBLIC_KEY = auth.public_key()
TICKET_SERVICE_URL = platform.ticket_service_url()
globals().update(platform.celery_config(SERVICE))  # consumes events from the other services' outboxes
EVENT_REPLAY_SECONDS = env.int("EVENT_REPLAY_SECONDS", 24 * 60 * 60, min_value=60)
PRESENCE_TTL_SECONDS = env.int("PRESENCE_TTL_SECONDS", 30, min_value=2)
