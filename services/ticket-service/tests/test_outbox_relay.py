"""The relay: in order, marked sent, retried on failure, and a real message on the broker (Redis db 2)."""

import json

import pytest
from django.conf import settings

from apps.tickets import events, services
from hdms_platform.conf.catalogue import task_queue
from hdms_platform.outbox.models import OutboxEvent
from hdms_platform.outbox.relay import relay_batch, resend

pytestmark = pytest.mark.django_db


def _three_events(actors, ticket):
    agent = actors["agent"].user
    services.ticket_update(actor=agent, ticket_id=ticket.id, values={"subject": "one"})
    services.comment_add(actor=agent, ticket_id=ticket.id, body="two")
    services.ticket_transition(actor=agent, ticket_id=ticket.id, status="pending")
    return list(OutboxEvent.objects.order_by("created_at").values_list("id", flat=True))


def test_a_failed_publish_keeps_the_event_and_everything_after_it(actors, ticket):
    ids = _three_events(actors, ticket)
    seen = []

    def flaky(event):
        if len(seen) == 1:
            raise ConnectionError("broker unreachable")
        seen.append(event["id"])

    result = relay_batch(publish=flaky)
    assert (result.published, result.failed) == (1, 1) and "broker unreachable" in result.error
    pending = OutboxEvent.objects.filter(published_at__isnull=True).order_by("created_at")
    assert [e.id for e in pending] == ids[1:]
    assert pending[0].attempts == 1 and "broker unreachable" in pending[0].last_error

    result = relay_batch(publish=lambda event: seen.append(event["id"]))
    assert result.published == 2 and seen == [str(i) for i in ids]  # in order, each once
    assert not OutboxEvent.objects.filter(published_at__isnull=True).exists()


def test_the_publisher_puts_a_real_task_on_communication_services_queue(actors, ticket):
    import redis

    from hdms_platform.conf.catalogue import REDIS_KEY_PREFIX

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)  # the broker role's own ACL user, db 2
    name = REDIS_KEY_PREFIX["broker"] + task_queue("communication")  # kombu's global_keyprefix
    broker.delete(name)
    try:
        ids = _three_events(actors, ticket)
        assert relay_batch(publish=events.publish).published == 3
        messages = [json.loads(m) for m in broker.lrange(name, 0, -1)]
        assert len(messages) == 3
        bodies = [json.loads(__import__("base64").b64decode(m["body"]))[0][0] for m in reversed(messages)]
        assert [b["id"] for b in bodies] == [str(i) for i in ids]
        assert {m["headers"]["task"] for m in messages} == {"hdms.communication.ingest_event"}
        assert bodies[1]["type"] == "comment.added" and bodies[1]["audience"] == "everyone"
        # Sent without asking for a result: Celery's Redis result backend never started its result
        # subscriber, which after a Redis outage over 20 s gives up for good (hdms_platform.celery.app.send).
        # (Its private _pubsub is the only sign: the SUBSCRIBE itself is deferred, PUBSUB CHANNELS shows none.)
        from core.celery import app

        assert app.backend.result_consumer._pubsub is None
    finally:
        broker.delete(name)


def test_resend_publishes_the_asked_numbers_again_with_the_numbers_they_were_given(actors, ticket):
    _three_events(actors, ticket)
    first_pass = []
    assert relay_batch(publish=first_pass.append).published == 3
    numbers = [e["source_seq"] for e in first_pass]
    assert numbers == list(range(numbers[0], numbers[0] + 3))

    again = []
    assert resend(numbers[1], numbers[2], publish=again.append) == 2  # the two a consumer never got
    assert again == first_pass[1:]  # same events, same numbers, in number order
    assert resend(numbers[2] + 1, numbers[2] + 5, publish=again.append) == 0  # not given out yet: nothing
    assert not OutboxEvent.objects.filter(published_at__isnull=True).exists()  # the relay's state is untouched
