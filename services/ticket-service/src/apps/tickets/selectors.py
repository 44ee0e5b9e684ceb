"""Reads of the ticket-service, cache-aside, behind one access rule.

`access_scope(user)` is the only place that says who may see a ticket. It is applied to
querysets (list, detail, comments, history, and so to the other services' access checks, which
ask `GET /api/v1/tickets/<id>/` with the user's own token) and to cached rows alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.db.models import Case, IntegerField, QuerySet, Value, When

from hdms_platform import errors
from hdms_platform.auth.tokens import TokenUser
from hdms_platform.cache.aside import count, from_copy, get_or_load
from hdms_platform.conf.ttl import TTL

from . import caching
from .models import Comment, History, Ticket
from .representations import serialize_ticket

PRIORITY_RANK = {p: rank for rank, p in enumerate(Ticket.Priority.values)}


def access_scope(user: TokenUser) -> dict[str, uuid.UUID]:
    """The access rule: agents and admins see every ticket, customers their own."""
    return {} if user.is_staff_member else {"requester_id": user.id}


def visible_tickets(user: TokenUser) -> QuerySet[Ticket]:
    return Ticket.objects.filter(**access_scope(user))


def _allowed(user: TokenUser, row: dict) -> bool:
    return all(str(row[field]) == str(value) for field, value in access_scope(user).items())


def ticket_get(*, user: TokenUser, ticket_id: uuid.UUID, queryset: QuerySet[Ticket] | None = None) -> Ticket:
    """The ticket if the user may see it; otherwise 404 (never 403: existence is not disclosed)."""
    ticket = (queryset if queryset is not None else visible_tickets(user)).filter(pk=ticket_id).first()
    if ticket is None:
        raise errors.NotFound("No such ticket.")
    return ticket


def ticket_detail(*, user: TokenUser, ticket_id: uuid.UUID) -> dict:
    """Cache-aside, with a per-process copy on top (caching.detail_copies): a hit makes no round
    trip. The access rule is asked of the row on every call."""

    def load():
        ticket = Ticket.objects.filter(pk=ticket_id).first()
        if ticket is None:
            raise errors.NotFound("No such ticket.")
        return serialize_ticket(ticket)

    row = get_or_load(
        caching.detail_key(ticket_id), ttl=TTL.SHORT, load=load, name="ticket_detail", copies=caching.detail_copies()
    )
    if not _allowed(user, row):
        raise errors.NotFound("No such ticket.")
    return row


def ticket_detail_from_memory(*, user: TokenUser, ticket_id: uuid.UUID) -> dict | None:
    """The ticket from this process's copy when it holds one and `user` may see it, else None (no
    round trip: hdms_platform.web.fastpath answers with it, the full path does the rest)."""
    row: dict | None = from_copy(caching.detail_key(ticket_id), copies=caching.detail_copies())
    if row is None or not _allowed(user, row):
        return None  # the full path reads (and counts) again, and answers the 404
    count("ticket_detail", hit=True)
    return row


def ticket_queryset(*, user: TokenUser, filters: dict) -> QuerySet[Ticket]:
    tickets = visible_tickets(user)
    if statuses := filters.get("status"):
        tickets = tickets.filter(status__in=statuses)
    if priorities := filters.get("priority"):
        tickets = tickets.filter(priority__in=priorities)
    if "assignee" in filters:
        assignee = filters["assignee"]
        tickets = tickets.filter(assignee_id__isnull=True) if assignee is None else tickets.filter(assignee_id=assignee)
    if requester := filters.get("requester"):
        tickets = tickets.filter(requester_id=requester)
    if since := filters.get("updated_since"):
        tickets = tickets.filter(updated_at__gte=since)
    if search := filters.get("search"):
        tickets = tickets.filter(subject__icontains=search)
    ordering = filters.get("ordering", "-updated_at")
    if ordering.lstrip("-") == "priority":
        rank = Case(*(When(priority=p, then=Value(r)) for p, r in PRIORITY_RANK.items()), output_field=IntegerField())
        tickets = tickets.annotate(priority_rank=rank)
        ordering = ordering.replace("priority", "priority_rank")
    return tickets.order_by(ordering, "-number")


def ticket_page(*, user: TokenUser, filters: dict, page: list[str], render: Callable[[QuerySet[Ticket]], dict]) -> dict:
    """One list page, cache-aside, keyed by the caller's access scope, the filters and `page` (what
    else the rendered page depends on); on a miss `render` paginates the visible tickets."""
    scope = access_scope(user).get("requester_id", "staff")
    return get_or_load(
        caching.list_key(scope=scope, filters=filters, page_key=str(page)),
        ttl=TTL.SHORT,
        load=lambda: render(ticket_queryset(user=user, filters=filters)),
        name="ticket_list",
        copies=caching.list_copies(),
    )


def comment_list(*, user: TokenUser, ticket_id: uuid.UUID) -> QuerySet[Comment]:
    """A ticket's comments; internal notes only for agents and admins."""
    ticket = ticket_get(user=user, ticket_id=ticket_id)
    comments = Comment.objects.filter(ticket=ticket).order_by("created_at", "id")
    return comments if user.is_staff_member else comments.filter(is_internal=False)


def history_list(*, user: TokenUser, ticket_id: uuid.UUID) -> QuerySet[History]:
    ticket = ticket_get(user=user, ticket_id=ticket_id)
    return History.objects.filter(ticket=ticket).order_by("created_at", "id")
