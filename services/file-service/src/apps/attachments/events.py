"""The file-service's outbox publisher (settings.HDMS_OUTBOX_PUBLISHER), run by `manage.py outbox_relay`."""

from __future__ import annotations

from hdms_platform.celery.app import send, send_event
from hdms_platform.events.contracts import TicketEvent

from .tasks import PROCESS_TASK


def publish(event: TicketEvent) -> None:
    from core.celery import app

    if event["type"] == "attachment.uploaded":  # work for our own worker, not news for the sockets
        send(app, PROCESS_TASK, [event["data"]["attachment_id"]], "file")
    else:
        send_event(app, event)
