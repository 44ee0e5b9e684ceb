"""Reads of the communication-service."""

from __future__ import annotations

import base64
import json
import logging

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from hdms_platform.auth.tokens import TokenUser
from hdms_platform.conf.catalogue import REDIS_KEY_PREFIX, task_queue
from hdms_platform.events.contracts import visible_audiences
from hdms_platform.health.checks import broker_client

from .models import ParkedEvent
from .models import TicketEvent as StoredEvent

logger = logging.getLogger("hdms.events")

REPLAY_LIMIT = 500
LAG_SCAN = 100


def events_since(*, ticket_id, after_seq: int, user: TokenUser) -> list[dict]:
    """Events of one ticket after `after_seq`, oldest first, without staff-only ones for customers."""
    rows = StoredEvent.objects.filter(
        ticket_id=ticket_id, id__gt=after_seq, audience__in=visible_audiences(is_staff=user.is_staff_member)
    ).order_by("id")
    return [{**row.payload, "seq": row.id} for row in rows[:REPLAY_LIMIT]]


def events_lag() -> dict:
    """The events worker's lag, readiness' `lag` probe (HDMS_LAG_PROBE): how long ago the oldest
    event still waiting for it occurred, whether it waits in the worker's queue (the broker's list
    `hdms.communication`; kombu pushes left and takes from the right, so the oldest are last; the
    last LAG_SCAN messages are read, other tasks such as retention carry no event time) or is parked
    for a predecessor; and how many wait in each."""
    client = broker_client()
    key = f"{REDIS_KEY_PREFIX['broker']}{task_queue('communication')}"
    queued = client.llen(key)
    occurred = [_occurred_at(message) for message in client.lrange(key, -LAG_SCAN, -1)] if queued else []
    parked = ParkedEvent.objects.count()
    if parked:
        occurred.append(ParkedEvent.objects.order_by("parked_at").values_list("parked_at", flat=True).first())
    known = [at for at in occurred if at is not None]
    lag = max((timezone.now() - at).total_seconds() for at in known) if known else 0.0
    return {"lag_seconds": round(max(lag, 0.0), 1), "queued": queued, "parked": parked}


def _occurred_at(message: bytes | str):
    """When the event in a queued Celery message occurred (its `occurred_at`); None if it is not one."""
    try:
        envelope = json.loads(message)
        body = envelope["body"]
        if envelope.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        return parse_datetime(args[0]["occurred_at"])
    except (TypeError, ValueError, KeyError, IndexError):
        logger.debug("a message in the events queue carries no event time")
        return None
