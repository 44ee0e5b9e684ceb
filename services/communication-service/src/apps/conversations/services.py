"""Writes of the communication-service: ingest events (once), fan them out, track presence."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from hdms_platform.auth.tokens import TokenUser
from hdms_platform.db.retention import delete_in_batches
from hdms_platform.events import loop
from hdms_platform.events.contracts import (
    EVENT_DATA,
    ContractError,
    PresenceEvent,
    PresenceState,
    TicketEvent,
    Viewer,
    check_event,
    group_message,
    ticket_group,
)
from hdms_platform.observability.instruments import (
    EVENT_FANOUT,
    EVENT_GAPS,
    EVENT_RESEND_REQUESTS,
    EVENTS_OFF_CONTRACT,
    EVENTS_STORED,
)

from . import selectors
from .models import EventGap, EventSource, ParkedEvent
from .models import TicketEvent as StoredEvent

logger = logging.getLogger("hdms.events")
BROADCAST_TIMEOUT_SECONDS = 5.0


NEXT_TICKET_SEQ = (
    "INSERT INTO conversations_ticket_sequence (ticket_id, last_seq) VALUES (%s, 1) ON CONFLICT (ticket_id)"
    " DO UPDATE SET last_seq = conversations_ticket_sequence.last_seq + 1 RETURNING last_seq"
)


def _store_event(event: TicketEvent) -> StoredEvent:
    """Store an event once (its id is the de-duplication key); the row that holds it. Its ticket's
    next number is taken in the same transaction (the counter row stays locked until it ends), so
    numbers follow the storing order with no gap: a rolled-back store gives its number back."""
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(NEXT_TICKET_SEQ, [str(event["ticket_id"])])
                (ticket_seq,) = cursor.fetchone()
            row = StoredEvent.objects.create(
                event_id=event["id"],
                ticket_id=event["ticket_id"],
                type=event["type"],
                audience=event.get("audience", "everyone"),
                payload=event,
                ticket_seq=ticket_seq,
            )
        EVENTS_STORED.labels(event["type"]).inc()
        return row
    except IntegrityError:
        return StoredEvent.objects.get(event_id=event["id"])


def _check_contract(event: TicketEvent) -> None:
    """A producer of another version may send what this one does not describe: counted and logged
    loudly, then stored as it came, since dropping it would leave a hole in its source's order."""
    try:
        check_event(event)
    except ContractError as exc:
        EVENTS_OFF_CONTRACT.labels(event.get("type") if event.get("type") in EVENT_DATA else "unknown").inc()
        logger.error("event %s does not match its contract: %s", event.get("id"), exc)


def event_ingest(event: TicketEvent) -> list[StoredEvent]:
    """Store an event in its source's order; return what is now stored, in order, to broadcast.

    Order is carried by the data: each source's relay numbers its events 1, 2, 3... An event whose
    predecessor has not been stored yet is parked and returns nothing; the predecessor, when it
    arrives (a retry, a redelivery, or sent again at our request: `event_gaps_check`), is stored and
    drains the parked ones after it. A gap that does not fill within EVENT_GAP_WAIT_SECONDS is
    reported, never skipped silently. An event without a number (a probe) is stored as it comes.
    """
    _check_contract(event)
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


@dataclass
class GapCheck:
    stored: list[StoredEvent]  # stored now, after a gap given up on: to broadcast
    missing: tuple[int, int] | None  # numbers to ask the source for again
    next_check: float | None  # seconds until the next check; None: nothing waits


def event_gap_check_claim(*, source: str) -> bool:
    """Whether the caller (an event just parked) should schedule the source's gap check: true when
    none is due, or the one due is overdue (its task was lost). One UPDATE, so one chain per source."""
    now = timezone.now()
    step = timedelta(seconds=settings.EVENT_RESEND_AFTER_SECONDS)
    due = Q(gap_check_due__isnull=True) | Q(gap_check_due__lt=now - step)
    return EventSource.objects.filter(due, source=source).update(gap_check_due=now + step) == 1


def event_gaps_check(*, source: str) -> GapCheck:
    """One check of a source's gap, repeated every EVENT_RESEND_AFTER_SECONDS while events wait.

    Once the first parked event has waited EVENT_RESEND_AFTER_SECONDS, the missing numbers are to
    be asked for again from the source's outbox (the repair of a message lost on the way); once it
    has waited EVENT_GAP_WAIT_SECONDS the gap is given up on: reported (an EventGap row and an
    error in the log) and the parked events after it are stored.
    """
    now = timezone.now()
    resend_after, give_up_after = settings.EVENT_RESEND_AFTER_SECONDS, settings.EVENT_GAP_WAIT_SECONDS
    with transaction.atomic():
        cursor = _cursor(source)
        stored: list[StoredEvent] = []
        first = ParkedEvent.objects.filter(source=source).order_by("seq").first()
        if first is not None and (now - first.parked_at).total_seconds() >= give_up_after:
            if first.seq > cursor.last_seq + 1:
                EventGap.objects.create(source=source, first_missing=cursor.last_seq + 1, last_missing=first.seq - 1)
                EVENT_GAPS.labels(source).inc()
                logger.error(
                    "events %s..%s of %s never arrived; storing what came after them", cursor.last_seq + 1, first.seq - 1, source
                )
                cursor.last_seq = first.seq - 1
            stored = _drain(cursor)
            first = ParkedEvent.objects.filter(source=source).order_by("seq").first()
        if first is None:
            check = GapCheck(stored, None, None)
        elif (waited := (now - first.parked_at).total_seconds()) >= resend_after:
            check = GapCheck(stored, (cursor.last_seq + 1, first.seq - 1), resend_after)
        else:
            check = GapCheck(stored, None, resend_after - waited)
        cursor.gap_check_due = None if check.next_check is None else now + timedelta(seconds=check.next_check)
        cursor.save(update_fields=["last_seq", "gap_check_due"])
    if check.missing:
        EVENT_RESEND_REQUESTS.labels(source).inc()
        logger.warning("events %s..%s of %s missing for %.0fs: asking the source for them again", *check.missing, source, waited)
    return check


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
    event = cast(TicketEvent, selectors.broadcast_form(row))
    layer = get_channel_layer()
    loop.run(layer.group_send(ticket_group(row.ticket_id), group_message(event)), BROADCAST_TIMEOUT_SECONDS)
    occurred = parse_datetime(event.get("occurred_at") or "")
    if occurred is not None:
        EVENT_FANOUT.observe(max(0.0, (timezone.now() - occurred).total_seconds()))


def events_purge() -> int:
    """Stored events older than the replay window (a retention purge): no client can ask for them."""
    cutoff = timezone.now() - timedelta(seconds=settings.EVENT_REPLAY_SECONDS)
    return delete_in_batches(StoredEvent.objects.filter(created_at__lt=cutoff))


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


# Sockets per user, across every process: a counter in the cache role (atomic INCR/DECR). Its
# TTL is refreshed at each of the user's connects, so counts a killed process never gave back
# expire within SOCKET_COUNT_TTL of that user's last connect. The cache unavailable (or the
# counter evicted): the limit is not applied — it bounds a user's share, it guards no data.
SOCKET_COUNT_TTL = 3600


def _sockets_key(user: TokenUser) -> str:
    return f"sockets:{user.id}"


def socket_opened(*, user: TokenUser) -> bool:
    """Count one more socket of `user`; False (and not counted) past WEBSOCKET_MAX_PER_USER."""
    key = _sockets_key(user)
    try:
        cache.add(key, 0, SOCKET_COUNT_TTL)
        count = cache.incr(key)
        cache.touch(key, SOCKET_COUNT_TTL)
        if count > settings.WEBSOCKET_MAX_PER_USER:
            cache.decr(key)
            return False
    except Exception as exc:  # noqa: BLE001 - a limit the cache cannot count is not applied
        logger.warning("socket count unavailable (limit not applied): %s: %s", type(exc).__name__, exc)
    return True


def socket_closed(*, user: TokenUser) -> None:
    try:
        if cache.decr(_sockets_key(user)) < 0:
            cache.set(_sockets_key(user), 0, SOCKET_COUNT_TTL)
    except ValueError:
        pass  # expired or evicted meanwhile: nothing to give back
    except Exception as exc:  # noqa: BLE001
        logger.warning("socket count unavailable at close: %s: %s", type(exc).__name__, exc)
