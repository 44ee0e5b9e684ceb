"""The file-service's outbox publisher (settings.HDMS_OUTBOX_PUBLISHER), run by `manage.py outbox_relay`."""

from __future__ import annotations

from hdms_platform.celery import queue, send_event
from hdms_platform.events import TicketEvent

from .tasks import PROCESS_TASK


def publish(event: TicketEvent) -> None:
    from core.celery import app

    if event["type"] == "attachment.uploaded":  # work for our own worker, not news for the sockets
        # ignore_result: see send_event
        app.send_task(PROCESS_TASK, args=[event["data"]["attachment_id"]], queue=queue("file"), retry=False, ignore_result=True)
    else:
        send_event(app, event)
