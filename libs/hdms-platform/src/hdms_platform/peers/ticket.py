"""The ticket-service client: may this user see this ticket? Its access rule, asked with the user's own token.

communication-service (sockets) and file-service (uploads, downloads) never re-implement the
rule: they ask `GET /api/v1/tickets/<id>/` as the user and trust its 200 / 404. Agents and admins
see every ticket by that same rule, so they are not asked about. A "yes" is cached briefly per
(user, ticket); a "no" is not, so a ticket created a moment ago is never refused from the cache.
When ticket-service cannot answer, callers get PeerUnavailable and answer 503 / close 1013,
never a guess.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.cache import cache

from hdms_platform.auth.tokens import TokenUser
from hdms_platform.cache.aside import count
from hdms_platform.conf.ttl import TTL
from hdms_platform.peers import http
from hdms_platform.peers.http import PeerUnavailable


def _key(user: TokenUser, ticket_id: uuid.UUID | str) -> str:
    return f"access:ticket:{user.id}:{ticket_id}"


def _url(ticket_id: uuid.UUID | str) -> str:
    # Set by the services that ask (communication, file); ticket-service answers, it never asks.
    return f"{settings.TICKET_SERVICE_URL}/api/v1/tickets/{ticket_id}/"  # type: ignore[misc]


def _decide(status: int) -> bool:
    if status == 200:
        return True
    if status in (401, 403, 404):
        return False
    raise PeerUnavailable(f"ticket-service answered {status}")


def ticket_access(*, user: TokenUser, ticket_id: uuid.UUID | str) -> bool:
    if user.is_staff_member:
        return True
    if cache.get(_key(user, ticket_id)):
        count("ticket_access", hit=True)
        return True
    count("ticket_access", hit=False)
    response = http.get(_url(ticket_id), token=user.token)
    allowed = _decide(response.status_code)
    if allowed:
        cache.set(_key(user, ticket_id), True, timeout=int(TTL.SHORT))
    return allowed


async def ticket_access_async(*, user: TokenUser, ticket_id: uuid.UUID | str) -> bool:
    if user.is_staff_member:
        return True
    if await cache.aget(_key(user, ticket_id)):
        count("ticket_access", hit=True)
        return True
    count("ticket_access", hit=False)
    response = await http.aget(_url(ticket_id), token=user.token)
    allowed = _decide(response.status_code)
    if allowed:
        await cache.aset(_key(user, ticket_id), True, timeout=int(TTL.SHORT))
    return allowed
