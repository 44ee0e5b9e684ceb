"""The ticket-service's cache keys and their invalidation, in one place.

A ticket's detail is cached under `detail_key`; list pages under `list_key`, which embeds a
generation token that every ticket write replaces (retiring every cached page at once). All three
are also copied per process (hdms_platform.cache.copies), each copy dropped as soon as Redis says its
key changed. A write drops both before and after its commit (`invalidate_around_commit`), and the
outbox relay drops them once more, strictly, before it publishes the write's event
(`invalidate_strictly`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from functools import cache as once

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django_redis import get_redis_connection

from hdms_platform.cache.copies import TrackedCopies
from hdms_platform.conf.ttl import TTL

LIST_PREFIX = "tickets:list:"
LIST_GENERATION_KEY = f"{LIST_PREFIX}generation"


def detail_key(ticket_id: uuid.UUID | str) -> str:
    return f"tickets:detail:{ticket_id}"


def detail_copies() -> TrackedCopies | None:
    """Per-process copies of cached details, kept while the cache's Redis says they are current
    (hdms_platform.cache.copies); None when the cache is not Redis (nothing would say so)."""
    return _copies_under(detail_key(""), max_entries=4096)


def list_copies() -> TrackedCopies | None:
    """Per-process copies of cached list pages and of the list generation token. Tracked apart from
    the details: a list miss stores a new page, and that write must not stop details being copied.
    Fewer entries: a page holds up to 100 tickets."""
    return _copies_under(LIST_PREFIX, max_entries=256)


def _copies_under(prefix: str, *, max_entries: int) -> TrackedCopies | None:
    config = settings.CACHES["default"]
    if not config["BACKEND"].startswith("django_redis."):
        return None
    return _copies(config["LOCATION"], cache.make_key(prefix), max_entries)


@once
def _copies(location: str, prefix: str, max_entries: int) -> TrackedCopies:
    return TrackedCopies(location, prefix, max_entries=max_entries)


def _drop_copies(ticket_id: uuid.UUID | str) -> None:
    """This process's copies of what a write to the ticket retires: its detail, the list generation."""
    for copies, key in ((detail_copies(), detail_key(ticket_id)), (list_copies(), LIST_GENERATION_KEY)):
        if copies:
            copies.drop(cache.make_key(key))


def list_generation() -> str:
    """A random token that every ticket write replaces: list keys embed it, so one write retires
    every cached list page at once. Random, not a counter, so an evicted token can never come
    back with an old value and resurrect stale pages. This process's copy (list_copies) is read
    first, so a list hit makes no round trip for it."""
    copies = list_copies()
    if copies is None:
        return _generation_in_redis()
    return str(copies.read_through(cache.make_key(LIST_GENERATION_KEY), _generation_in_redis)[0])


def _generation_in_redis() -> str:
    token = cache.get(LIST_GENERATION_KEY)
    if token is None:
        token = uuid.uuid4().hex
        if not cache.add(LIST_GENERATION_KEY, token, timeout=int(TTL.LONG)):  # another reader's wins
            token = cache.get(LIST_GENERATION_KEY) or token
    return str(token)


def list_key(*, scope: object, filters: dict, page_key: str) -> str:
    """One list page's key: the current generation, the caller's scope, the query."""
    digest = hashlib.sha256(json.dumps([filters, page_key], sort_keys=True, default=str).encode()).hexdigest()[:32]
    return f"tickets:list:{list_generation()}:{scope}:{digest}"


def invalidate(ticket_id: uuid.UUID | str) -> None:
    """Drop the ticket's detail entry and retire every cached list page (best effort)."""
    _drop_copies(ticket_id)
    cache.delete(detail_key(ticket_id))
    cache.set(LIST_GENERATION_KEY, uuid.uuid4().hex, timeout=int(TTL.LONG))


def invalidate_around_commit(ticket_id: uuid.UUID) -> None:
    # Now, so reads inside this transaction are fresh; again after the commit, so a reader that
    # loaded the old row between the two cannot leave it cached. The outbox relay drops them a
    # third time, strictly, once Redis answers (see events.publish).
    invalidate(ticket_id)
    transaction.on_commit(lambda: invalidate(ticket_id))


def invalidate_strictly(ticket_id: str) -> None:
    """Like invalidate, but raising when Redis does not answer: the relay then keeps the
    event pending and retries, so a write made while the cache was down cannot leave a stale entry
    behind once it is back."""
    _drop_copies(ticket_id)
    redis = get_redis_connection("default")
    client = cache.client  # type: ignore[attr-defined]  # django-redis' client: its key scheme and encoding
    redis.delete(client.make_key(detail_key(ticket_id)))
    redis.set(client.make_key(LIST_GENERATION_KEY), client.encode(uuid.uuid4().hex), ex=int(TTL.LONG))
