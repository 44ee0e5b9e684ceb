"""The ticket-service's outbox publisher (settings.HDMS_OUTBOX_PUBLISHER), run by `manage.py outbox_relay`."""

from __future__ import annotations

from hdms_platform.celery.app import send_event
from hdms_platform.events.contracts import TicketEvent

from . import caching


def publish(event: TicketEvent) -> None:
    from core.celery import app

    caching.invalidate_strictly(event["ticket_id"])
    send_event(app, event)
