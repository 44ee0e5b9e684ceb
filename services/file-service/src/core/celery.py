"""The file-service's Celery app: broker on Redis db 2, queue `hdms.file`."""

import os

from celery import Celery

from hdms_platform.startup import settings_module

os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module())

app = Celery("file_service")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
