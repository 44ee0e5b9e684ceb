"""ticket-service's Celery app: it sends outbox events to communication-service's queue, and its
worker runs the scheduled retention task (queue `hdms.ticket`)."""

from hdms_platform.celery.app import make_app

app = make_app("ticket")
