"""ticket-service's Celery app: it only sends (outbox events to communication-service's queue)."""

from hdms_platform.celery import make_app

app = make_app("ticket")
