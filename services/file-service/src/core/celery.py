"""The file-service's Celery app: broker on Redis db 2, queue `hdms.file`."""

from hdms_platform.celery.app import make_app

app = make_app("file")
