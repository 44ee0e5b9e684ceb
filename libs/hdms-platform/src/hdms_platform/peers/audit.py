"""The client of another service's audit API (GET /api/v1/audit/<service>/, web/audit_api.py):
user-service asks each peer for one person's entries, as the calling admin."""

from __future__ import annotations

import uuid
from typing import Any

from hdms_platform.conf.builders import service_url
from hdms_platform.peers import http
from hdms_platform.peers.http import PeerUnavailable


def entries_by_actor(service: str, *, actor_id: uuid.UUID, token: str, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` entries `actor_id` caused in `service`; PeerUnavailable when it gives no
    readable answer (down, timing out, failing, refusing the token)."""
    url = f"{service_url(service)}/api/v1/audit/{service}/"
    response = http.get(url, token=token, params={"actor": str(actor_id), "page_size": limit})
    if response.status_code != 200:
        raise PeerUnavailable(f"{service}-service's audit log answered {response.status_code}")
    try:
        results: list[dict[str, Any]] = response.json()["results"]
    except (KeyError, TypeError, ValueError) as exc:
        raise PeerUnavailable(f"{service}-service's audit log answered something unreadable") from exc
    return results
