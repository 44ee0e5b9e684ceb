"""user-service's Celery app: its worker runs the scheduled retention task (queue `hdms.user`)."""

from hdms_platform.celery.app import make_app

app = make_app("user")
