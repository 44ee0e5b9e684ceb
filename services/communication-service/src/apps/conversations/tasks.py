"""Celery tasks of the communication-service: take the event, store it in order, fan it out."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError
from redis.exceptions import RedisError

from hdms_platform.celery import INGEST_EVENT_TASK

from . import services

FLUSH_GAPS_TASK = "hdms.communication.flush_event_gaps"
# Both tasks retry an outage of the database or Redis for as long as it lasts, at most 10 s apart:
# the order of what they store does not depend on when the retries come back.
RETRY_OUTAGES = {
    "acks_late": True,
    "autoretry_for": (RedisError, OSError, DatabaseError),
    "retry_backoff": True,
    "retry_backoff_max": 10,
    "max_retries": None,
}


@shared_task(
    name=INGEST_EVENT_TASK,
    **RETRY_OUTAGES,
    # Generous: with the broker down, the retry itself waits for the broker to come back, and a
    # pool child killed by a time limit mid-write took the whole worker down (the fault suite).
    time_limit=150,
    soft_time_limit=120,
)
def ingest_event(event: dict) -> None:
    """Idempotent and order-keeping whatever the delivery order: a database outage simply retries
    (Celery, with backoff), and events that come back out of order are put in order by their
    source's sequence (services.event_ingest). Sockets drop sequence numbers they already sent."""
    stored = services.event_ingest(event)
    if not stored and event.get("source"):  # parked: make sure a gap that never fills is reported
        flush_event_gaps.apply_async(args=[event["source"]], countdown=settings.EVENT_GAP_WAIT_SECONDS + 1)
    for row in stored:
        services.event_broadcast(row)
    services.events_purge()


@shared_task(name=FLUSH_GAPS_TASK, **RETRY_OUTAGES)
def flush_event_gaps(source: str) -> None:
    for row in services.event_gaps_flush(source=source):
        services.event_broadcast(row)
