"""The event stream's subscribers (hdms_platform.outbox.subscribers): every stream event goes to each
subscriber's own queue, a real message on the broker; a subscriber acts on an event id once."""

import base64
import json
import uuid
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.tickets import events, services
from hdms_platform.celery.app import INGEST_EVENT_TASK
from hdms_platform.conf.catalogue import REDIS_KEY_PREFIX, task_queue
from hdms_platform.models import ReceivedEvent
from hdms_platform.outbox.models import OutboxEvent
from hdms_platform.outbox.relay import relay_batch
from hdms_platform.outbox.subscribers import first_delivery, received_events_purge

pytestmark = pytest.mark.django_db


def _bodies(broker, name) -> list[tuple[str, dict]]:
    """(task, event) of each message on a queue, oldest first (kombu pushes left)."""
    messages = [json.loads(m) for m in reversed(broker.lrange(name, 0, -1))]
    return [(m["headers"]["task"], json.loads(base64.b64decode(m["body"]))[0][0]) for m in messages]


def test_the_sockets_subscriber_is_communication_services_ingest_task():
    assert [
        {"name": "sockets", "task": INGEST_EVENT_TASK, "queue": task_queue("communication")}
    ] == settings.HDMS_EVENT_SUBSCRIBERS


def test_a_second_subscriber_gets_every_stream_event_on_its_own_queue(actors, ticket, settings):
    queue = f"hdms.test.notify.{uuid.uuid4().hex[:8]}"
    settings.HDMS_EVENT_SUBSCRIBERS = [
        *settings.HDMS_EVENT_SUBSCRIBERS,
        {"name": "notify", "task": "hdms.test.notify", "queue": queue},
    ]
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    names = [REDIS_KEY_PREFIX["broker"] + q for q in (task_queue("communication"), queue)]
    broker.delete(*names)
    try:
        services.comment_add(actor=actors["agent"].user, ticket_id=ticket.id, body="for both")
        written = [str(i) for i in OutboxEvent.objects.order_by("created_at").values_list("id", flat=True)]
        assert relay_batch(publish=events.publish).published == len(written) >= 1
        sockets, notify = (_bodies(broker, name) for name in names)
        assert [e["id"] for _, e in sockets] == [e["id"] for _, e in notify] == written  # each, in write order
        assert {t for t, _ in sockets} == {INGEST_EVENT_TASK} and {t for t, _ in notify} == {"hdms.test.notify"}
        assert notify[-1][1]["source"] == "ticket" and notify[-1][1]["source_seq"] == sockets[-1][1]["source_seq"]
    finally:
        broker.delete(*names)


def test_a_subscriber_acts_on_an_event_once_and_a_rolled_back_act_counts_for_nothing():
    event_id = uuid.uuid4()
    with pytest.raises(RuntimeError), transaction.atomic():
        assert first_delivery("notify", event_id)
        raise RuntimeError("the work failed: its record goes with it")
    with transaction.atomic():
        assert first_delivery("notify", event_id)  # the redelivery does the work
    assert not first_delivery("notify", event_id)  # the next one does not
    assert first_delivery("webhooks", event_id)  # another subscriber's own record


def test_received_events_are_forgotten_once_no_redelivery_can_come(settings):
    old, recent = uuid.uuid4(), uuid.uuid4()
    first_delivery("notify", old), first_delivery("notify", recent)
    ReceivedEvent.objects.filter(event_id=old).update(
        received_at=timezone.now() - timedelta(hours=settings.OUTBOX_RETENTION_HOURS + 1)
    )
    assert received_events_purge() == 1
    assert list(ReceivedEvent.objects.values_list("event_id", flat=True)) == [recent]
