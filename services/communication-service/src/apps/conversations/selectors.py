"""Reads of the communication-service."""

from __future__ import annotations

from hdms_platform.auth import TokenUser

from .models import TicketEvent as StoredEvent

REPLAY_LIMIT = 500


def events_since(*, ticket_id, after_seq: int, user: TokenUser) -> list[dict]:
    """Events of one ticket after `after_seq`, oldest first, without staff-only ones for customers."""
    rows = StoredEvent.objects.filter(ticket_id=ticket_id, id__gt=after_seq).order_by("id")
    if not user.is_staff_member:
        rows = rows.exclude(audience=StoredEvent.Audience.STAFF)
    return [{**row.payload, "seq": row.id} for row in rows[:REPLAY_LIMIT]]
