"""Celery tasks of the communication-service: take the event, store it in order, fan it out."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from hdms_platform.celery.app import INGEST_EVENT_TASK, request_resend
from hdms_platform.events.contracts import TicketEvent

from . import services

CHECK_GAPS_TASK = "hdms.communication.flush_event_gaps"  # the name of its first release, kept for queued messages


# Both tasks retry an outage of the database or Redis for as long as it lasts, at most 10 s apart:
# the order of what they store does not depend on when the retries come back.
RETRY_OUTAGES = {
    "acks_late": True,
    "autoretry_for": (RedisError, OperationalError, OSError, DatabaseError),
    "retry_backoff": True,
    "retry_backoff_max": 10,
    "max_retries": None,
}


@shared_task(
    name=INGEST_EVENT_TASK,
    **RETRY_OUTAGES,
    # Generous: a pool child killed by a time limit mid-write took the whole worker down (the fault
    # suite). With the broker down a retry cannot be published: the task is requeued (celery.RequeueingTask).
    time_limit=150,
    soft_time_limit=120,
)
def ingest_event(event: TicketEvent) -> None:
    """Idempotent and order-keeping whatever the delivery order: a database outage simply retries
    (Celery, with backoff), and events that come back out of order are put in order by their
    source's sequence (services.event_ingest). Sockets drop sequence numbers they already sent."""
    stored = services.event_ingest(event)
    if not stored and event.get("source") and services.event_gap_check_claim(source=event["source"]):
        check_event_gaps.apply_async(args=[event["source"]], countdown=settings.EVENT_RESEND_AFTER_SECONDS)
    for row in stored:
        services.event_broadcast(row)


@shared_task(name=CHECK_GAPS_TASK, bind=True, **RETRY_OUTAGES)
def check_event_gaps(self, source: str) -> None:
    """While a source's events wait for a missing number: ask the source to send it again, and in
    the end report the gap and store what came after (services.event_gaps_check); then again."""
    check = services.event_gaps_check(source=source)
    for row in check.stored:
        services.event_broadcast(row)
    if check.missing:
        request_resend(self.app, source, *check.missing)
    if check.next_check is not None:
        check_event_gaps.apply_async(args=[source], countdown=check.next_check)
