"""file-service: attachments, stored through Django's storage API, processed by Celery."""

from pathlib import Path

from hdms_platform import auth
from hdms_platform import settings as platform
from hdms_platform.env import env

SERVICE = "file"
BASE_DIR = Path(__file__).resolve().parents[3]

globals().update(platform.common(SERVICE, base_dir=BASE_DIR))
globals().update(platform.celery_config(SERVICE))

INSTALLED_APPS = [*platform.INSTALLED_APPS, "hdms_platform.outbox", "apps.attachments"]
HDMS_READINESS = ["database", "cache", "broker"]
HDMS_REDIS_ROLES = ("cache", "broker")
HDMS_JWT_PUBLIC_KEY = auth.public_key()

MEDIA_ROOT = env.str("FILE_STORAGE_DIR", str(BASE_DIR.parents[1] / "media"))
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024, min_value=1)
