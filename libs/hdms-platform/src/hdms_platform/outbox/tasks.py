"""The outbox's Celery task, found by the worker of every service with an outbox (an installed app)."""

from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from hdms_platform.celery.app import RESEND_EVENTS_TASK
from hdms_platform.outbox import relay


@shared_task(
    name=RESEND_EVENTS_TASK,
    acks_late=True,
    autoretry_for=(RedisError, OperationalError, OSError, DatabaseError),
    retry_backoff=True,
    retry_backoff_max=10,
    max_retries=30,
)
def resend_events(first: int, last: int) -> int:
    """Publish this service's stream events first..last again (sent by the events worker)."""
    return relay.resend(int(first), int(last), publish=relay.configured_publisher())
