"""The ticket-service's outbox publisher (settings.HDMS_OUTBOX_PUBLISHER), run by `manage.py outbox_relay`."""

from __future__ import annotations

import uuid

from django.core.cache import cache
from django_redis import get_redis_connection

from hdms_platform.cache import TTL
from hdms_platform.celery import send_event
from hdms_platform.events import TicketEvent

from .selectors import LIST_GENERATION_KEY, detail_key


def invalidate_strictly(ticket_id: str) -> None:
    """Like services.invalidate, but raising when Redis does not answer: the relay then keeps the
    event pending and retries, so a write made while the cache was down cannot leave a stale entry
    behind once it is back."""
    redis = get_redis_connection("default")
    client = cache.client  # type: ignore[attr-defined]  # django-redis' client: its key scheme and encoding
    redis.delete(client.make_key(detail_key(ticket_id)))
    redis.set(client.make_key(LIST_GENERATION_KEY), client.encode(uuid.uuid4().hex), ex=int(TTL.LONG))


def publish(event: TicketEvent) -> None:
    from core.celery import app

    invalidate_strictly(event["ticket_id"])
    send_event(app, event)
