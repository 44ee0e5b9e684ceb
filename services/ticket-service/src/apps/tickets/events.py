"""The ticket-service's outbox publisher (settings.HDMS_OUTBOX_PUBLISHER), run by `manage.py outbox_relay`."""

from __future__ import annotations

from hdms_platform.events.contracts import TicketEvent
from hdms_platform.outbox.subscribers import deliver

from . import caching


def publish(event: TicketEvent) -> None:
    from core.celery import app

    caching.invalidate_strictly(event["ticket_id"])
    deliver(app, event)  # to every subscriber of the event stream
