"""The event contracts: every event's payload typed once, here, and shared by the producers
(ticket- and file-service, through `outbox_write`, which refuses a payload its contract does not
describe) and the consumers (the events worker checks what it receives; the socket consumer and
the replay apply the one audience rule, `visible_audiences`).

Adding an event: its `EventType`, a `...Data` TypedDict, its entry in `EVENT_DATA`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict

from typeguard import TypeCheckError, check_type

EventType = Literal[
    "ticket.created",
    "ticket.updated",
    "comment.added",
    "attachment.ready",
    "verify.ping",
    "bench.pipeline",  # make bench's events-pipeline row: outbox rows through the relay and the events worker
    "attachment.uploaded",  # file-service internal: hands the upload to its Celery worker; never sent to sockets
]
PresenceState = Literal["viewing", "replying"]
Audience = Literal["everyone", "staff"]


class TicketCreatedData(TypedDict):
    number: int
    subject: str
    priority: str
    requester_id: str
    actor_id: str


class FieldChange(TypedDict):
    old: str | None
    new: str | None


class TicketUpdatedData(TypedDict):
    changes: dict[str, FieldChange]
    actor_id: str
    status: str
    updated_at: str


class Comment(TypedDict):
    id: str
    author_id: str
    body: str
    is_internal: bool
    created_at: str


class CommentAddedData(TypedDict):
    comment: Comment


class AttachmentUploadedData(TypedDict):
    attachment_id: str


class AttachmentReadyData(TypedDict):
    attachment_id: str
    filename: str
    mime: str
    size: int
    sha256: str
    owner_id: str


class VerifyPingData(TypedDict):
    """scripts/verify-channels-connection.sh's probe: published straight to the layer, never stored."""


class BenchPipelineData(TypedDict):
    key: str  # which of the bench's events it is
    sent_at: float  # epoch seconds when the bench wrote its outbox row


EVENT_DATA: dict[str, type] = {
    "ticket.created": TicketCreatedData,
    "ticket.updated": TicketUpdatedData,
    "comment.added": CommentAddedData,
    "attachment.uploaded": AttachmentUploadedData,
    "attachment.ready": AttachmentReadyData,
    "verify.ping": VerifyPingData,
    "bench.pipeline": BenchPipelineData,
}


class TicketEvent(TypedDict):
    id: str  # event id (the outbox row's id): consumers de-duplicate on it
    type: EventType
    ticket_id: str
    audience: Audience
    occurred_at: str
    data: dict[str, Any]
    seq: NotRequired[int]  # set by communication-service: the replay cursor
    ticket_seq: NotRequired[int]  # set by communication-service: the ticket's events numbered 1, 2, 3... with no gap
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


class ContractError(ValueError):
    """A payload its event type's contract does not describe (the message says where it differs)."""


def check_event(event: Mapping[str, object]) -> None:
    """Raise ContractError unless `event` is a TicketEvent whose `data` matches its type's contract."""
    try:
        check_type(event, TicketEvent)
        check_type(event["data"], EVENT_DATA[str(event["type"])])
    except TypeCheckError as exc:
        raise ContractError(f"{event.get('type', 'an event')}: {exc}") from None


def visible_audiences(*, is_staff: bool) -> tuple[Audience, ...]:
    """The staff-only rule, in one place: customers never see `staff` events (internal comments,
    uploads not yet checked); agents and admins see all."""
    return ("everyone", "staff") if is_staff else ("everyone",)


def ticket_group(ticket_id: uuid.UUID | str) -> str:
    """The channel-layer group of one ticket's live events."""
    return f"ticket.{ticket_id}"


def group_message(event: TicketEvent) -> dict[str, Any]:
    """The channel-layer message that carries an event to TicketConsumer.ticket_event."""
    return {"type": "ticket.event", "event": event}


def presence_message(event: PresenceEvent) -> dict[str, Any]:
    """The channel-layer message that carries presence to TicketConsumer.presence_changed."""
    return {"type": "presence.changed", "event": event}
