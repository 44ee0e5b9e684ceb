"""Who receives the stored event stream, and how a feature subscribes to it.

The stream is every event ticket- and file-service write to their outbox (the contracts in
events/contracts.py), in write order, each numbered per source (`source`, `source_seq`) by the
relay. The relay hands each event to every subscriber in HDMS_EVENT_SUBSCRIBERS (conf/defaults.py)
— a Celery task on the subscriber's own queue — and marks it published only when all took it: a
broker failure leaves it pending and it goes again to all, so **delivery is at least once** and
every subscriber must be idempotent by event id.

The first subscriber is `sockets`: communication-service's events worker (the ingest task) stores
each event, de-duplicated by its id, and broadcasts it to the ticket's sockets. A second one, e.g.
email notifications, is:

1. a Celery task in the service that does the work, taking one event (a `TicketEvent` dict):

       @shared_task(name="hdms.user.notify", acks_late=True, autoretry_for=(DatabaseError,), retry_backoff=True)
       def notify(event):
           with transaction.atomic():
               if not first_delivery("notifications", event["id"]):
                   return  # a redelivery: done already
               ...  # the work, in the same transaction as the record of it

2. an entry in HDMS_EVENT_SUBSCRIBERS: {"name": "notifications", "task": "hdms.user.notify",
   "queue": "hdms.user.notify"} — its own queue, so a slow subscriber delays nobody else;
3. a worker consuming that queue (`celery -A core worker --queues hdms.user.notify`), in the native
   program table (hdms_tools/processes.py) and the compose files like the events worker.

A subscriber that needs order per ticket keeps one worker (concurrency 1) on its queue, as the
events worker does; one that does not can run many.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from celery import Celery
from django.conf import settings
from django.db import connection
from django.utils import timezone

from hdms_platform.celery.app import send_to
from hdms_platform.db.retention import delete_in_batches
from hdms_platform.events.contracts import TicketEvent
from hdms_platform.models import ReceivedEvent


@dataclass(frozen=True)
class Subscriber:
    name: str
    task: str
    queue: str


def subscribers() -> list[Subscriber]:
    return [Subscriber(**entry) for entry in settings.HDMS_EVENT_SUBSCRIBERS]


def deliver(app: Celery, event: TicketEvent) -> None:
    """Hand one stream event to every subscriber, once each (no retry: the outbox retries them all);
    raises when the broker is unreachable."""
    for subscriber in subscribers():
        send_to(app, subscriber.task, [event], subscriber.queue)


def first_delivery(subscriber: str, event_id: uuid.UUID | str) -> bool:
    """True the first time `subscriber` meets `event_id`, recorded in the current transaction: call it
    inside the transaction of the work, so the record and the work commit (or roll back) together."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO hdms_received_event (subscriber, event_id, received_at) VALUES (%s, %s, now())"
            " ON CONFLICT (subscriber, event_id) DO NOTHING RETURNING id",
            [subscriber, str(event_id)],
        )
        return cursor.fetchone() is not None


def received_events_purge() -> int:
    """Forget what subscribers received once no redelivery can come: the outbox keeps an event (and
    so can send it again) for OUTBOX_RETENTION_HOURS; a retention purge (settings.HDMS_RETENTION)."""
    cutoff = timezone.now() - timedelta(hours=settings.OUTBOX_RETENTION_HOURS)
    return delete_in_batches(ReceivedEvent.objects.filter(received_at__lt=cutoff))
