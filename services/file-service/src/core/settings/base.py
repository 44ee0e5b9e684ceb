"""file-service: attachments, stored through Django's storage API, processed by Celery."""

from pathlib import Path

from hdms_platform.auth import tokens as auth
from hdms_platform.conf import builders as platform
from hdms_platform.conf import catalogue
from hdms_platform.conf.defaults import *  # what every service sets alike, each named there
from hdms_platform.conf.env import env

SERVICE = "file"
BASE_DIR = Path(__file__).resolve().parents[3]

HDMS_SERVICE = SERVICE
SECRET_KEY = platform.secret_key()
DATABASES = platform.database(SERVICE)
CACHES = platform.caches(SERVICE)
CELERY_TASK_DEFAULT_QUEUE = catalogue.task_queue(SERVICE)
SPECTACULAR_SETTINGS = platform.api_docs(SERVICE)
STATIC_ROOT = platform.static_root(BASE_DIR)
WHITENOISE_USE_FINDERS = STATIC_ROOT is None

INSTALLED_APPS = [*platform.INSTALLED_APPS, "hdms_platform.outbox", "apps.attachments"]
HDMS_READINESS = ["database", "cache", "broker", "lag"]  # lag: `degraded`, never `fail` (HDMS_LAG_PROBE)
HDMS_REDIS_ROLES = catalogue.SERVICE_REDIS_ROLES[SERVICE]
HDMS_JWT_PUBLIC_KEY = auth.public_key()

MEDIA_ROOT = env.str("FILE_STORAGE_DIR", str(BASE_DIR.parents[1] / "media"))
# Customers' uploads readable by the service's user (and its group: the app image's) alone.
FILE_UPLOAD_PERMISSIONS = 0o640
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o750
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024, min_value=1)
ATTACHMENT_ALLOWED_TYPES = frozenset(
    env.list(
        "ATTACHMENT_ALLOWED_TYPES",
        ["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "application/zip", "text/plain"],
    )
)
FILE_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024  # larger uploads stream to a temporary file, not RAM
TICKET_SERVICE_URL = platform.ticket_service_url()
HDMS_OUTBOX_PUBLISHER = "apps.attachments.events.publish"
HDMS_OUTBOX_INTERNAL_TYPES = ("attachment.uploaded",)  # goes to our own worker, not to the event stream
HDMS_LAG_PROBE = platform.OUTBOX_LAG  # readiness: `degraded` while the relay lags
HDMS_RETENTION = [*platform.RETENTION_PURGES, platform.OUTBOX_PURGE, "apps.attachments.services.abandoned_uploads_purge"]
# An upload still `pending` (never processed) after this long is abandoned: its row and bytes go.
ATTACHMENT_PENDING_HOURS = env.int("ATTACHMENT_PENDING_HOURS", 24, min_value=1)
# Fault injection for the kill-mid-task tests: seconds a processing task sleeps. prod.py forces 0.
HDMS_FAULT_SLOW_PROCESSING_SECONDS = env.float("HDMS_FAULT_SLOW_PROCESSING_SECONDS", 0.0)

# Local volume by default; S3 (django-storages) when FILE_STORAGE_BACKEND=s3.
if env.choice("FILE_STORAGE_BACKEND", ("local", "s3"), "local") == "s3":
    STORAGES = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": env.str("AWS_STORAGE_BUCKET_NAME"),
                "region_name": env.str("AWS_S3_REGION_NAME", "") or None,
                "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", "") or None,
                "default_acl": "private",
                "querystring_auth": True,
                "file_overwrite": False,
            },
        },
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    }
