"""The outbox relay: publish pending events in order, mark them sent, retry what failed.

Rows are claimed with `SELECT ... FOR UPDATE SKIP LOCKED` inside one transaction (safe under
PgBouncer transaction pooling: the lock lives and dies with the transaction), so several relays
can run side by side without publishing a row twice at the same time. A failed publish stops the
batch, leaving that row and every later one pending, so events leave in the order they were
written; the failure is recorded on the row (`attempts`, `last_error`) and retried on the next
pass. Delivery is at-least-once: consumers de-duplicate on the event id.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from django.db import DatabaseError, close_old_connections, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string

from hdms_platform.events.contracts import TicketEvent
from hdms_platform.observability.instruments import OUTBOX_FAILURES, OUTBOX_PUBLISHED, OUTBOX_RESENT
from hdms_platform.observability.logging import request_id_var
from hdms_platform.outbox.models import OutboxEvent, OutboxSequence

logger = logging.getLogger("hdms.outbox")
Publisher = Callable[[TicketEvent], None]


@dataclass
class RelayResult:
    published: int = 0
    failed: int = 0
    error: str = ""


def configured_publisher() -> Publisher:
    from django.conf import settings

    publisher: Publisher = import_string(settings.HDMS_OUTBOX_PUBLISHER)
    return publisher


def relay_batch(*, publish: Publisher, limit: int = 100) -> RelayResult:
    """Publish a batch in write order, each stream event carrying `source` and a gapless
    `source_seq` (HDMS_OUTBOX_INTERNAL_TYPES, work a service sends to itself, are not numbered).

    The sequence row is locked for the batch, so numbers follow publishing order; if the
    transaction rolls back after a publish, the numbers roll back with it and the same rows are
    published again with the same numbers (consumers de-duplicate on the event id).
    """
    from django.conf import settings

    result = RelayResult()
    source = settings.HDMS_SERVICE
    internal = set(getattr(settings, "HDMS_OUTBOX_INTERNAL_TYPES", ()))  # work for ourselves, not stream events
    with transaction.atomic():
        sequence, _ = OutboxSequence.objects.select_for_update().get_or_create(source=source)
        rows = list(
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(published_at__isnull=True)
            .order_by("created_at")[:limit]
        )
        sent: list[tuple[uuid.UUID, int | None]] = []
        last_seq = sequence.last_seq
        for row in rows:
            seq = None if row.type in internal else last_seq + 1
            token = request_id_var.set(row.payload.get("request_id") or "-")  # the message carries the writer's id
            try:
                publish(row.payload if seq is None else cast(TicketEvent, {**row.payload, "source": source, "source_seq": seq}))
            except Exception as exc:  # noqa: BLE001 - any publish failure leaves the row pending, to retry
                result.failed = 1
                result.error = f"{type(exc).__name__}: {exc}"[:500]
                OutboxEvent.objects.filter(pk=row.pk).update(attempts=F("attempts") + 1, last_error=result.error)
                logger.warning("outbox publish failed for %s (%s): %s", row.pk, row.type, result.error)
                break
            finally:
                request_id_var.reset(token)
            sent.append((row.pk, seq))
            last_seq = seq or last_seq
        now = timezone.now()
        for pk, seq in sent:
            OutboxEvent.objects.filter(pk=pk).update(published_at=now, source_seq=seq, attempts=F("attempts") + 1, last_error="")
        if last_seq != sequence.last_seq:
            sequence.last_seq = last_seq
            sequence.save(update_fields=["last_seq"])
        result.published = len(sent)
    OUTBOX_PUBLISHED.inc(result.published)
    return result


def resend(first: int, last: int, *, publish: Publisher, limit: int = 5000) -> int:
    """Publish again, in number order, the stream events this service numbered first..last (at
    most `limit`), with the numbers they were given: the repair the events worker asks for when a
    number is missing (a message lost between broker and worker; kombu's Redis transport has such
    windows). Rows already purged (OUTBOX_RETENTION_HOURS) cannot be sent: the gap is then reported
    by the events worker. Returns how many were published."""
    from django.conf import settings

    source = settings.HDMS_SERVICE
    rows = OutboxEvent.objects.filter(source_seq__gte=first, source_seq__lte=min(last, first + limit - 1)).order_by("source_seq")
    sent = 0
    for row in rows:
        token = request_id_var.set(row.payload.get("request_id") or "-")
        try:
            publish(cast(TicketEvent, {**row.payload, "source": source, "source_seq": row.source_seq}))
        finally:
            request_id_var.reset(token)
        sent += 1
    OUTBOX_RESENT.inc(sent)
    return sent


def pending_count() -> int:
    return OutboxEvent.objects.filter(published_at__isnull=True).count()


def oldest_pending_age() -> float | None:
    """Seconds the oldest unpublished event has waited (the relay's lag), or None when none waits."""
    oldest = (
        OutboxEvent.objects.filter(published_at__isnull=True).order_by("created_at").values_list("created_at", flat=True).first()
    )
    return None if oldest is None else (timezone.now() - oldest).total_seconds()


def lag() -> dict[str, Any]:
    """The relay's lag, readiness' `lag` probe (HDMS_LAG_PROBE): the oldest unpublished event's age
    and how many wait."""
    age = oldest_pending_age()
    return {"lag_seconds": round(age or 0.0, 1), "pending": pending_count()}


def run_forever(
    *, publish: Publisher, poll_interval: float = 0.2, max_backoff: float = 5.0, stop: Callable[[], bool] = lambda: False
) -> None:
    """Poll the outbox; back off (up to max_backoff) while publishing or the database fails."""
    backoff = poll_interval
    while not stop():
        try:
            result = relay_batch(publish=publish)
        except DatabaseError as exc:
            logger.warning("outbox relay: database unavailable: %s", exc)
            close_old_connections()
            result = RelayResult(failed=1, error=str(exc))
        if result.failed:
            OUTBOX_FAILURES.inc()
            time.sleep(backoff)
            backoff = min(max_backoff, backoff * 2)
        else:
            backoff = poll_interval
            if not result.published:
                time.sleep(poll_interval)
