"""Event payloads, typed once and shared by producers (ticket, file) and consumers (communication)."""

from __future__ import annotations

import uuid
from typing import Literal, NotRequired, TypedDict

EventType = Literal[
    "ticket.created",
    "ticket.updated",
    "comment.added",
    "attachment.ready",
    "verify.ping",
    "attachment.uploaded",  # file-service internal: hands the upload to its Celery worker; never sent to sockets
]
PresenceState = Literal["viewing", "replying"]
Audience = Literal["everyone", "staff"]


class TicketEvent(TypedDict):
    id: str  # event id (the outbox row's id): consumers de-duplicate on it
    type: EventType
    ticket_id: str
    audience: Audience
    occurred_at: str
    data: dict
    seq: NotRequired[int]  # set by communication-service: the replay cursor
    source: NotRequired[str]  # set by the relay: the service whose outbox published it
    source_seq: NotRequired[int]  # set by the relay: that source's publishing order, 1, 2, 3...
    request_id: NotRequired[str]  # the request or task that made the change (X-Request-ID), for tracing


class Viewer(TypedDict):
    user_id: str
    email: str
    roles: list[str]
    state: PresenceState
    expires_at: float  # epoch seconds: a viewer whose heartbeats stop drops out after this


class PresenceEvent(TypedDict):
    type: Literal["presence"]
    ticket_id: str
    viewers: list[Viewer]


def ticket_group(ticket_id: uuid.UUID | str) -> str:
    """The channel-layer group of one ticket's live events."""
    return f"ticket.{ticket_id}"


def group_message(event: TicketEvent) -> dict:
    """The channel-layer message that carries an event to TicketConsumer.ticket_event."""
    return {"type": "ticket.event", "event": event}


def presence_message(event: PresenceEvent) -> dict:
    """The channel-layer message that carries presence to TicketConsumer.presence_changed."""
    return {"type": "presence.changed", "event": event}
