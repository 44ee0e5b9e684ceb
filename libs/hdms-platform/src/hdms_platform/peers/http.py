"""The one way a service calls another: the caller's own bearer token and request id passed on,
one timeout, and every failure to get an answer (unreachable, timing out) a PeerUnavailable, which
the error mapping answers 503 and a socket closes 1013. What a status means is each peer module's."""

from __future__ import annotations

from typing import Any

import httpx

from hdms_platform import errors
from hdms_platform.observability.logging import current_request_id

TIMEOUT = httpx.Timeout(2.0, connect=1.0)


class PeerUnavailable(errors.Unavailable):
    """Another service did not give an answer (down, timing out, or failing)."""


def headers(token: str) -> dict[str, str]:
    sent = {"Authorization": f"Bearer {token}"}
    request_id = current_request_id()
    if request_id:
        sent["X-Request-ID"] = request_id  # the caller's request id, so one id finds both services' lines
    return sent


def get(url: str, *, token: str, params: dict[str, Any] | None = None) -> httpx.Response:
    try:
        return httpx.get(url, params=params, headers=headers(token), timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        raise PeerUnavailable(f"{url} unreachable: {exc}") from exc


async def aget(url: str, *, token: str, params: dict[str, Any] | None = None) -> httpx.Response:
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            return await client.get(url, params=params, headers=headers(token))
    except httpx.HTTPError as exc:
        raise PeerUnavailable(f"{url} unreachable: {exc}") from exc
