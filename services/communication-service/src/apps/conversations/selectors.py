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

from .models import ParkedEvent, TicketSequence
from .models import TicketEvent as StoredEvent

logger = logging.getLogger("hdms.events")

REPLAY_LIMIT = 500
LAG_SCAN = 100


def events_since(*, ticket_id, after_seq: int, user: TokenUser) -> list[dict]:
    """Events of one ticket after `after_seq` (the replay cursor), oldest first, without staff-only
    ones for customers."""
    rows = StoredEvent.objects.filter(
        ticket_id=ticket_id, id__gt=after_seq, audience__in=visible_audiences(is_staff=user.is_staff_member)
    ).order_by("id")
    return [broadcast_form(row) for row in rows[:REPLAY_LIMIT]]


def events_between(*, ticket_id, after: int, before: int, user: TokenUser) -> list[dict]:
    """The ticket's events numbered after..before (exclusive) that `user` may see, in order: what a
    socket missed when it receives number `before` while it had sent up to `after`."""
    rows = StoredEvent.objects.filter(
        ticket_id=ticket_id,
        ticket_seq__gt=after,
        ticket_seq__lt=before,
        audience__in=visible_audiences(is_staff=user.is_staff_member),
    ).order_by("ticket_seq")
    return [broadcast_form(row) for row in rows[:REPLAY_LIMIT]]


def ticket_position(*, ticket_id) -> int:
    """The last number the ticket's events were given (0: none yet)."""
    return TicketSequence.objects.filter(ticket_id=ticket_id).values_list("last_seq", flat=True).first() or 0


def broadcast_form(row: StoredEvent) -> dict:
    """A stored event as sockets receive it, live or replayed: `seq` its replay cursor (the row's id),
    `ticket_seq` its ticket's number."""
    return {**row.payload, "seq": row.id, "ticket_seq": row.ticket_seq}


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
