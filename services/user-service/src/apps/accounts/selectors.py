"""Reads of the user-service."""

from __future__ import annotations

import uuid

from django.db.models import Q, QuerySet

from hdms_platform import errors
from hdms_platform.conf.catalogue import SERVICES
from hdms_platform.models import AuditEntry
from hdms_platform.peers import audit
from hdms_platform.peers.http import PeerUnavailable
from hdms_platform.web.audit_api import AuditEntryOutput

from .models import User


def user_get(*, user_id: uuid.UUID) -> User:
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise errors.NotAuthenticated("The account no longer exists.", code="user_inactive")
    return user


def user_list(*, role: str | None = None, search: str | None = None) -> QuerySet[User]:
    users = User.objects.order_by("email")
    if role:
        users = users.filter(roles__contains=[role])
    if search:
        users = users.filter(email__icontains=search)
    return users


OTHER_SERVICES = tuple(s for s in SERVICES if s != "user")


def security_events(*, user_id: uuid.UUID, token: str, limit: int = 100) -> dict:
    """One person's audit trail across the four services: what they did (actor) everywhere, and
    what was done to their account here. The other services are asked (peers.audit) with the calling
    admin's token; one that does not answer is named in `unavailable`, never a 500."""
    own = AuditEntry.objects.filter(Q(actor_id=user_id) | Q(target_type="user", target_id=str(user_id)))
    events = [{**row, "service": "user"} for row in AuditEntryOutput(own.order_by("-occurred_at", "-id")[:limit], many=True).data]
    unavailable = []
    for service in OTHER_SERVICES:
        try:
            events += [
                {**row, "service": service} for row in audit.entries_by_actor(service, actor_id=user_id, token=token, limit=limit)
            ]
        except PeerUnavailable:
            unavailable.append(service)
    events.sort(key=lambda e: e["occurred_at"], reverse=True)
    return {"user_id": str(user_id), "events": events[:limit], "unavailable": unavailable}
