"""The file-service's outbox publisher (settings.HDMS_OUTBOX_PUBLISHER), run by `manage.py outbox_relay`."""

from __future__ import annotations

from hdms_platform.events.contracts import TicketEvent
from hdms_platform.outbox.subscribers import deliver

from .services import enqueue_processing


def publish(event: TicketEvent) -> None:
    from core.celery import app

    if event["type"] == "attachment.uploaded":  # work for our own worker, not news for the sockets
        enqueue_processing(event["data"]["attachment_id"])
    else:
        deliver(app, event)  # to every subscriber of the event stream
