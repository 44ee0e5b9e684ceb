"""Writes of the communication-service: ingest events (once), fan them out, track presence."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from hdms_platform.auth import TokenUser
from hdms_platform.events import PresenceEvent, PresenceState, TicketEvent, Viewer, group_message, ticket_group

from .models import TicketEvent as StoredEvent

PURGE_LOCK = "events:purge-lock"
BROADCAST_TIMEOUT_SECONDS = 5.0


def event_ingest(event: TicketEvent) -> tuple[StoredEvent, bool]:
    """Store an event once (its id is the de-duplication key) and return it with `created`."""
    try:
        with transaction.atomic():
            row = StoredEvent.objects.create(
                event_id=event["id"],
                ticket_id=event["ticket_id"],
                type=event["type"],
                audience=event.get("audience", "everyone"),
                payload=event,
            )
            return row, True
    except IntegrityError:
        return StoredEvent.objects.get(event_id=event["id"]), False


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
