"""Writing to the outbox: one row per event, in the transaction of the change it announces."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from hdms_platform.db.retention import delete_in_batches
from hdms_platform.events.contracts import Audience, EventType, TicketEvent, check_event
from hdms_platform.observability.logging import current_request_id
from hdms_platform.outbox.models import OutboxEvent


def outbox_write(
    *, type: EventType, ticket_id: uuid.UUID, data: Mapping[str, Any], audience: Audience = "everyone"
) -> OutboxEvent:
    """Record an event. Must run inside the transaction that makes the change (so both or neither
    land). `data` must match the type's contract (hdms_platform.events.contracts.EVENT_DATA): a payload that
    does not raises ContractError and the change is not made, rather than consumers getting it."""
    if not connection.in_atomic_block:
        raise RuntimeError("outbox_write() must be called inside transaction.atomic() with the change it announces")
    event_id = uuid.uuid4()
    now = timezone.now()
    payload: TicketEvent = {
        "id": str(event_id),
        "type": type,
        "ticket_id": str(ticket_id),
        "audience": audience,
        "occurred_at": now.isoformat(),
        "data": dict(data),
    }
    request_id = current_request_id()
    if request_id:
        payload["request_id"] = request_id  # the request (or task) that made the change
    check_event(dict(payload))
    return OutboxEvent.objects.create(id=event_id, type=type, ticket_id=ticket_id, payload=payload, created_at=now)


def outbox_events_purge() -> int:
    """Published events older than OUTBOX_RETENTION_HOURS (a retention purge). Pending rows are
    never purged, however old: they are events still owed. The sequence lives in its own row, so
    no number is given out twice after a purge."""
    cutoff = timezone.now() - timedelta(hours=settings.OUTBOX_RETENTION_HOURS)
    return delete_in_batches(OutboxEvent.objects.filter(published_at__lt=cutoff))
