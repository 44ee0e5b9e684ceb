"""Celery tasks of the communication-service: take the event, store it once, fan it out."""

from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError
from redis.exceptions import RedisError

from hdms_platform.celery import INGEST_EVENT_TASK

from . import services


@shared_task(
    name=INGEST_EVENT_TASK,
    acks_late=True,
    autoretry_for=(RedisError, OSError, DatabaseError),
    retry_backoff=True,
    retry_backoff_max=30,
    max_retries=None,
    time_limit=30,
    soft_time_limit=20,
)
def ingest_event(event: dict) -> None:
    """Idempotent: a redelivered or duplicate event is stored once; a broadcast that fails (channel
    layer down) retries, and sockets drop sequence numbers they already sent."""
    row, _created = services.event_ingest(event)
    services.event_broadcast(row)
    services.events_purge()
