"""Who may watch a ticket: the ticket-service's access rule, asked with the caller's own token."""

from __future__ import annotations

import uuid

import httpx
from django.conf import settings
from django.core.cache import cache

from hdms_platform.auth import TokenUser
from hdms_platform.cache import TTL


async def ticket_access_allowed(*, user: TokenUser, ticket_id: uuid.UUID) -> bool:
    if user.is_staff_member:
        return True
    key = f"access:{user.id}:{ticket_id}"
    cached = await cache.aget(key)
    if cached is not None:
        return cached
    async with httpx.AsyncClient(base_url=settings.TICKET_SERVICE_URL, timeout=2.0) as client:
        response = await client.get(f"/api/v1/tickets/{ticket_id}/", headers={"Authorization": f"Bearer {user.token}"})
    allowed = response.status_code == 200
    if response.status_code in (200, 404):
        await cache.aset(key, allowed, timeout=TTL.SHORT)
    return allowed
