"""Celery tasks of the communication-service: take the event, store it once, fan it out."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from celery import shared_task
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from redis.exceptions import RedisError

from hdms_platform.celery import INGEST_EVENT_TASK

from . import services

logger = logging.getLogger("hdms.events")
T = TypeVar("T")
DATABASE_WAIT_SECONDS = 90.0  # below the soft time limit


def wait_for_the_database(step: Callable[[], T], *, budget: float = DATABASE_WAIT_SECONDS) -> T:
    """Run `step`, retrying it in place while the database is unreachable.

    Why not a Celery retry: that sends the event back to the broker with a countdown, and the
    events that arrive meanwhile are stored, and numbered, before it; a client would then see a
    ticket's events out of the order they were written. The events worker runs one task at a
    time, so holding it here keeps the queue in order. Past the budget, the error goes to Celery
    (which retries, in whatever order).
    """
    deadline = time.monotonic() + budget
    delay = 0.2
    while True:
        try:
            return step()
        except (OperationalError, InterfaceError) as exc:
            if time.monotonic() + delay > deadline:
                raise
            logger.warning("database unavailable, the event waits in place (%.1fs): %s", delay, exc)
            connection.close()  # a fresh connection on the next try
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


@shared_task(
    name=INGEST_EVENT_TASK,
    acks_late=True,
    autoretry_for=(RedisError, OSError, DatabaseError),
    retry_backoff=True,
    retry_backoff_max=30,
    max_retries=None,
    time_limit=150,
    soft_time_limit=120,
)
def ingest_event(event: dict) -> None:
    """Idempotent: a redelivered or duplicate event is stored once; a broadcast that fails (channel
    layer down) retries, and sockets drop sequence numbers they already sent."""
    row, _created = wait_for_the_database(lambda: services.event_ingest(event))
    services.event_broadcast(row)
    services.events_purge()
