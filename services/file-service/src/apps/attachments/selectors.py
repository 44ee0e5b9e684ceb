"""Reads of the file-service. Every read first asks ticket-service's access rule for the ticket."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from hdms_platform import errors
from hdms_platform.auth.tokens import TokenUser
from hdms_platform.peers.http import PeerUnavailable
from hdms_platform.peers.ticket import ticket_access

from .models import Attachment


def require_ticket_access(*, user: TokenUser, ticket_id: uuid.UUID) -> None:
    """404 when the user may not see the ticket (as ticket-service answers), 503 when it cannot say."""
    try:
        allowed = ticket_access(user=user, ticket_id=ticket_id)
    except PeerUnavailable:
        raise errors.Unavailable("Ticket access cannot be checked right now; try again shortly.") from None
    if not allowed:
        raise errors.NotFound("No such ticket.")


def attachment_get(*, user: TokenUser, attachment_id: uuid.UUID) -> Attachment:
    attachment = Attachment.objects.filter(pk=attachment_id).first()
    if attachment is None:
        raise errors.NotFound("No such attachment.")
    try:
        require_ticket_access(user=user, ticket_id=attachment.ticket_id)
    except errors.NotFound:
        raise errors.NotFound("No such attachment.") from None
    return attachment


def attachment_list(*, user: TokenUser, ticket_id: uuid.UUID) -> QuerySet[Attachment]:
    require_ticket_access(user=user, ticket_id=ticket_id)
    return Attachment.objects.filter(ticket_id=ticket_id).order_by("created_at", "id")
