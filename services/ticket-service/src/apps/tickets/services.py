"""Writes of the ticket-service. Each one, in a single transaction: the change, its history rows,
its outbox event. Cache entries it affects are dropped before and after the commit."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone

from hdms_platform import audit, errors
from hdms_platform.auth.tokens import TokenUser
from hdms_platform.events.contracts import Comment as CommentPayload
from hdms_platform.events.contracts import CommentAddedData, FieldChange, TicketCreatedData, TicketUpdatedData
from hdms_platform.outbox.services import outbox_write

from . import caching
from .models import Comment, History, Ticket
from .selectors import ticket_get, visible_tickets

Status = Ticket.Status
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.OPEN: frozenset({Status.PENDING, Status.RESOLVED, Status.CLOSED}),
    Status.PENDING: frozenset({Status.OPEN, Status.RESOLVED, Status.CLOSED}),
    Status.RESOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}
# What a customer may do to their own ticket: reopen it once resolved, or close it.
CUSTOMER_TRANSITIONS = frozenset(
    {
        (Status.RESOLVED, Status.OPEN),
        (Status.OPEN, Status.CLOSED),
        (Status.PENDING, Status.CLOSED),
        (Status.RESOLVED, Status.CLOSED),
    }
)
# A reply from the requester puts a ticket waiting on them (or resolved) back in the agents' queue.
REOPENED_BY_CUSTOMER_REPLY = frozenset({Status.PENDING, Status.RESOLVED})


def _locked(user: TokenUser, ticket_id: uuid.UUID) -> Ticket:
    return ticket_get(user=user, ticket_id=ticket_id, queryset=visible_tickets(user).select_for_update())


def _value(value) -> str | None:
    return None if value is None else str(value)


def _record(ticket: Ticket, actor: TokenUser, changes: dict[str, tuple]) -> None:
    """History rows + one `ticket.updated` event for the fields that really changed."""
    now = timezone.now()
    History.objects.bulk_create(
        History(ticket=ticket, actor_id=actor.id, field=field, old_value=_value(old), new_value=_value(new), created_at=now)
        for field, (old, new) in changes.items()
    )
    ticket.updated_at = now
    ticket.save(update_fields=[*changes, "updated_at"])
    outbox_write(
        type="ticket.updated",
        ticket_id=ticket.id,
        data=TicketUpdatedData(
            changes={f: FieldChange(old=_value(o), new=_value(n)) for f, (o, n) in changes.items()},
            actor_id=str(actor.id),
            status=ticket.status,
            updated_at=now.isoformat(),
        ),
    )
    caching.invalidate_around_commit(ticket.id)


def _apply(ticket: Ticket, actor: TokenUser, values: dict) -> Ticket:
    changes = {f: (getattr(ticket, f), v) for f, v in values.items() if getattr(ticket, f) != v}
    for field, (_, new) in changes.items():
        setattr(ticket, field, new)
    if changes:
        _record(ticket, actor, changes)
    return ticket


def ticket_create(
    *,
    actor: TokenUser,
    subject: str,
    description: str = "",
    priority: str | None = None,
    requester_id: uuid.UUID | None = None,
) -> Ticket:
    if requester_id and requester_id != actor.id and not actor.is_staff_member:
        raise errors.Forbidden("Customers open tickets for themselves only (requester_id).")
    if priority is not None and not actor.is_staff_member:  # the same rule as ticket_update
        raise errors.Forbidden("Only agents and admins set a ticket's priority.")
    priority = priority or Ticket.Priority.NORMAL
    with transaction.atomic():
        ticket = Ticket.objects.create(
            subject=subject, description=description, priority=priority, requester_id=requester_id or actor.id
        )
        ticket.refresh_from_db(fields=["number"])
        History.objects.create(ticket=ticket, actor_id=actor.id, field="ticket", old_value=None, new_value="created")
        outbox_write(
            type="ticket.created",
            ticket_id=ticket.id,
            data=TicketCreatedData(
                number=ticket.number,
                subject=ticket.subject,
                priority=ticket.priority,
                requester_id=str(ticket.requester_id),
                actor_id=str(actor.id),
            ),
        )
        caching.invalidate_around_commit(ticket.id)
    return ticket


def ticket_update(*, actor: TokenUser, ticket_id: uuid.UUID, values: dict) -> Ticket:
    with transaction.atomic():
        ticket = _locked(actor, ticket_id)  # visibility first: a ticket you cannot see is 404, never 403
        if "priority" in values and not actor.is_staff_member:
            raise errors.Forbidden("Only agents and admins change a ticket's priority.")
        if ticket.status == Status.CLOSED:
            raise errors.Conflict("A closed ticket cannot be edited.", code="ticket_closed")
        return _apply(ticket, actor, values)


def ticket_transition(*, actor: TokenUser, ticket_id: uuid.UUID, status: str) -> Ticket:
    with transaction.atomic():
        ticket = _locked(actor, ticket_id)
        current = ticket.status
        if status == current:
            raise errors.Conflict(f"The ticket is already {current}.", code="transition_noop")
        if status not in TRANSITIONS[current]:
            allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (closed is final)"
            raise errors.Conflict(
                f"A ticket cannot go from {current} to {status}; allowed from {current}: {allowed}.", code="transition_invalid"
            )
        if not actor.is_staff_member and (current, status) not in CUSTOMER_TRANSITIONS:
            raise errors.Forbidden("Customers may only reopen a resolved ticket or close their own ticket.")
        audit.record(
            "ticket.status_changed", actor_id=actor.id, target=("ticket", ticket.id), details={"old": current, "new": status}
        )
        return _apply(ticket, actor, {"status": status})


def ticket_assign(*, actor: TokenUser, ticket_id: uuid.UUID, assignee_id: uuid.UUID | None) -> Ticket:
    with transaction.atomic():
        ticket = _locked(actor, ticket_id)
        if not actor.is_staff_member:
            raise errors.Forbidden("Only agents and admins assign tickets.")
        if ticket.status == Status.CLOSED:
            raise errors.Conflict("A closed ticket cannot be reassigned.", code="ticket_closed")
        audit.record(
            "ticket.assigned",
            actor_id=actor.id,
            target=("ticket", ticket.id),
            details={"old": str(ticket.assignee_id or ""), "new": str(assignee_id or "")},
        )
        return _apply(ticket, actor, {"assignee_id": assignee_id})


def comment_add(*, actor: TokenUser, ticket_id: uuid.UUID, body: str, is_internal: bool = False) -> Comment:
    with transaction.atomic():
        ticket = _locked(actor, ticket_id)
        if is_internal and not actor.is_staff_member:
            raise errors.Forbidden("Only agents and admins write internal notes.")
        if ticket.status == Status.CLOSED:
            raise errors.Conflict("A closed ticket takes no more comments.", code="ticket_closed")
        comment = Comment.objects.create(ticket=ticket, author_id=actor.id, body=body, is_internal=is_internal)
        if is_internal:
            audit.record(
                "comment.internal_created",
                actor_id=actor.id,
                target=("comment", comment.id),
                details={"ticket_id": str(ticket.id)},
            )
        outbox_write(
            type="comment.added",
            ticket_id=ticket.id,
            audience="staff" if is_internal else "everyone",
            data=CommentAddedData(
                comment=CommentPayload(
                    id=str(comment.id),
                    author_id=str(actor.id),
                    body=body,
                    is_internal=is_internal,
                    created_at=comment.created_at.isoformat(),
                )
            ),
        )
        reply_by_requester = not is_internal and actor.id == ticket.requester_id
        if reply_by_requester and ticket.status in REOPENED_BY_CUSTOMER_REPLY:
            _apply(ticket, actor, {"status": Status.OPEN})
        else:
            ticket.updated_at = comment.created_at
            ticket.save(update_fields=["updated_at"])
            caching.invalidate_around_commit(ticket.id)
    return comment
