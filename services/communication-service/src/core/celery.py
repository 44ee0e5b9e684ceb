"""communication-service's Celery app: consumes queue `hdms.communication` (events from the outboxes)."""

from hdms_platform.celery.app import make_app

app = make_app("communication")
