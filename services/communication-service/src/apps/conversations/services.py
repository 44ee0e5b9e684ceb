"""Writes of the communication-service: ingest events (once), fan them out, track presence."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from hdms_platform.auth import TokenUser
from hdms_platform.events import PresenceEvent, PresenceState, TicketEvent, Viewer, group_message, ticket_group
from hdms_platform.metrics import EVENT_FANOUT, EVENT_GAPS, EVENTS_STORED

from .models import EventGap, EventSource, ParkedEvent
from .models import TicketEvent as StoredEvent

logger = logging.getLogger("hdms.events")
PURGE_LOCK = "events:purge-lock"
BROADCAST_TIMEOUT_SECONDS = 5.0


def _store_event(event: TicketEvent) -> StoredEvent:
    """Store an event once (its id is the de-duplication key); the row that holds it."""
    try:
        with transaction.atomic():
            row = StoredEvent.objects.create(
                event_id=event["id"],
                ticket_id=event["ticket_id"],
                type=event["type"],
                audience=event.get("audience", "everyone"),
                payload=event,
            )
        EVENTS_STORED.labels(event["type"]).inc()
        return row
    except IntegrityError:
        return StoredEvent.objects.get(event_id=event["id"])


def event_ingest(event: TicketEvent) -> list[StoredEvent]:
    """Store an event in its source's order; return what is now stored, in order, to broadcast.

    Order is carried by the data: each source's relay numbers its events 1, 2, 3... An event whose
    predecessor has not been stored yet is parked and returns nothing; the predecessor, when it
    arrives (a retry, a redelivery), is stored and drains the parked ones after it. A gap that does
    not fill within EVENT_GAP_WAIT_SECONDS is reported by `event_gaps_flush`, never skipped
    silently. An event without a number (a probe) is stored as it comes.
    """
    source, seq = event.get("source"), event.get("source_seq")
    if not source or not isinstance(seq, int):
        return [_store_event(event)]
    with transaction.atomic():
        cursor = _cursor(source)
        if seq <= cursor.last_seq:
            known = StoredEvent.objects.filter(event_id=event["id"]).first()
            if known is None:  # a number given out again after a relay's rollback: store it, late, not lose it
                logger.warning(
                    "event %s of %s arrived with an old number %s (stored up to %s)", event["id"], source, seq, cursor.last_seq
                )
            return [known or _store_event(event)]
        if seq > cursor.last_seq + 1:
            ParkedEvent.objects.get_or_create(source=source, seq=seq, defaults={"payload": event})
            logger.info("event %s of %s parked: waiting for %s", seq, source, cursor.last_seq + 1)
            return []
        stored = [_store_event(event)]
        cursor.last_seq = seq
        stored += _drain(cursor)
        cursor.save(update_fields=["last_seq"])
        return stored


def event_gaps_flush(*, source: str) -> list[StoredEvent]:
    """Give up waiting for numbers missing longer than EVENT_GAP_WAIT_SECONDS: report the gap
    (an EventGap row and an error in the log), then store the parked events after it."""
    waited = timezone.now() - timedelta(seconds=settings.EVENT_GAP_WAIT_SECONDS)
    with transaction.atomic():
        cursor = _cursor(source)
        first = ParkedEvent.objects.filter(source=source).order_by("seq").first()
        if first is None or first.parked_at > waited:
            return []
        if first.seq > cursor.last_seq + 1:
            EventGap.objects.create(source=source, first_missing=cursor.last_seq + 1, last_missing=first.seq - 1)
            EVENT_GAPS.labels(source).inc()
            logger.error(
                "events %s..%s of %s never arrived; storing what came after them", cursor.last_seq + 1, first.seq - 1, source
            )
            cursor.last_seq = first.seq - 1
        stored = _drain(cursor)
        cursor.save(update_fields=["last_seq"])
        return stored


def _cursor(source: str) -> EventSource:
    """The source's row, locked until the transaction ends: one query, except for a source's first event."""
    cursor = EventSource.objects.select_for_update().filter(source=source).first()
    if cursor is None:
        EventSource.objects.get_or_create(source=source)
        cursor = EventSource.objects.select_for_update().get(source=source)
    return cursor


def _drain(cursor: EventSource) -> list[StoredEvent]:
    stored = []
    while (parked := ParkedEvent.objects.filter(source=cursor.source, seq=cursor.last_seq + 1).first()) is not None:
        stored.append(_store_event(parked.payload))
        parked.delete()
        cursor.last_seq += 1
    return stored


def event_broadcast(row: StoredEvent) -> None:
    """Send a stored event to its ticket's sockets, with its sequence number (the replay cursor).

    Sent again on a redelivered task too: sockets drop sequence numbers they have already sent.
    Bounded: with the channel layer down it raises within BROADCAST_TIMEOUT_SECONDS (and the task
    retries) instead of hanging until Celery's time limits kill the worker's child mid-write.
    """
    event: TicketEvent = {**row.payload, "seq": row.id}

    async def send() -> None:
        layer = get_channel_layer()
        await asyncio.wait_for(layer.group_send(ticket_group(row.ticket_id), group_message(event)), BROADCAST_TIMEOUT_SECONDS)

    async_to_sync(send)()
    occurred = parse_datetime(event.get("occurred_at") or "")
    if occurred is not None:
        EVENT_FANOUT.observe(max(0.0, (timezone.now() - occurred).total_seconds()))


def events_purge() -> int:
    """Drop events older than the replay window; at most once a minute across all workers."""
    if not cache.add(PURGE_LOCK, 1, timeout=60):
        return 0
    cutoff = timezone.now() - timedelta(seconds=settings.EVENT_REPLAY_SECONDS)
    return StoredEvent.objects.filter(created_at__lt=cutoff).delete()[0]


def _presence_key(ticket_id) -> str:
    return f"presence:{ticket_id}"


def _live(raw: dict[str, Viewer]) -> dict[str, Viewer]:
    now = time.time()
    return {uid: v for uid, v in raw.items() if v["expires_at"] > now}


def _store(ticket_id, viewers: dict[str, Viewer]) -> PresenceEvent:
    cache.set(_presence_key(ticket_id), viewers, timeout=settings.PRESENCE_TTL_SECONDS * 4)
    listed = sorted(viewers.values(), key=lambda v: v["email"])
    return {"type": "presence", "ticket_id": str(ticket_id), "viewers": listed}


def presence_heartbeat(*, ticket_id, user: TokenUser, state: PresenceState) -> tuple[PresenceEvent, bool]:
    """Record that `user` is viewing or replying. Returns the presence and whether it changed
    (someone arrived, changed state, or dropped out by expiry), so callers broadcast changes only.

    Read-modify-write without a lock: two heartbeats racing can drop one entry, which the next
    heartbeat (every few seconds) puts back.
    """
    raw = cache.get(_presence_key(ticket_id)) or {}
    viewers = _live(raw)
    previous = viewers.get(str(user.id))
    viewers[str(user.id)] = {
        "user_id": str(user.id),
        "email": user.email,
        "roles": list(user.roles),
        "state": state,
        "expires_at": time.time() + settings.PRESENCE_TTL_SECONDS,
    }
    changed = len(viewers) != len(raw) or previous is None or previous["state"] != state
    return _store(ticket_id, viewers), changed


def presence_leave(*, ticket_id, user: TokenUser) -> PresenceEvent:
    viewers = _live(cache.get(_presence_key(ticket_id)) or {})
    viewers.pop(str(user.id), None)
    return _store(ticket_id, viewers)
