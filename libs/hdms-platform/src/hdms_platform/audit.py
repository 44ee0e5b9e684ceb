"""The audit log: who did what, to whom, from where. One implementation, a table per service.

`record()` writes one entry on the default database connection, so called inside the atomic
block of the change it records it commits or rolls back with that change; called outside one (a
refused sign-in, a download, a denied socket) it is written at once. Entries carry the client
address as the trusted-proxy rule derives it and the request id, never passwords, tokens or file
contents (`details` is for ids, reasons, old and new values).

Append-only by PostgreSQL privileges: the migration revokes UPDATE, DELETE and TRUNCATE from the
service's own role. The retention purge (`purge()`, `manage.py audit_purge`) grants itself DELETE
inside its own transaction, deletes one batch, revokes it again before COMMIT, and is audited.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from hdms_platform.models import AuditEntry
from hdms_platform.observability.logging import request_id_var
from hdms_platform.web.proxies import client_address

if TYPE_CHECKING:
    from django.http import HttpRequest
    from django.http.response import HttpResponseBase

client_address_var: contextvars.ContextVar[str] = contextvars.ContextVar("client_address", default="")
TABLE = AuditEntry._meta.db_table
SUCCESS, FAILURE, DENIED = AuditEntry.Outcome.SUCCESS, AuditEntry.Outcome.FAILURE, AuditEntry.Outcome.DENIED


class AuditContextMiddleware:
    """Remembers the request's client address (the trusted-proxy rule) for the entries it causes."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        token = client_address_var.set(client_address(request)[:64])
        try:
            return self.get_response(request)
        finally:
            client_address_var.reset(token)


def record(
    action: str,
    *,
    actor_id: uuid.UUID | str | None = None,
    target: tuple[str, object] = ("", ""),
    outcome: str = SUCCESS,
    details: dict[str, Any] | None = None,
    address: str | None = None,
) -> AuditEntry:
    request_id = request_id_var.get()
    return AuditEntry.objects.create(
        occurred_at=timezone.now(),
        actor_id=actor_id,
        action=action,
        target_type=target[0],
        target_id=str(target[1] or ""),
        outcome=outcome,
        client_address=(client_address_var.get() if address is None else address)[:64],
        request_id="" if request_id == "-" else request_id[:64],
        details=details or {},
    )


def purge(*, older_than_days: int, batch: int = 5000, actor_id: uuid.UUID | str | None = None) -> int:
    """Delete entries older than the retention, a batch per transaction; a purge that deleted
    anything is recorded."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    if not AuditEntry.objects.filter(occurred_at__lt=cutoff).exists():
        return 0  # the usual scheduled run: no GRANT/REVOKE (catalog churn) when nothing is old enough
    deleted = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"GRANT DELETE ON {TABLE} TO CURRENT_USER")
            cursor.execute(
                f"DELETE FROM {TABLE} WHERE id IN (SELECT id FROM {TABLE} WHERE occurred_at < %s ORDER BY id LIMIT %s)",
                [cutoff, batch],
            )
            count = int(cursor.rowcount)
            cursor.execute(f"REVOKE DELETE ON {TABLE} FROM CURRENT_USER")
        deleted += count
        if count < batch:
            break
    if deleted:
        record(
            "audit.purged",
            actor_id=actor_id,
            target=("audit", ""),
            details={"deleted": deleted, "older_than_days": older_than_days, "cutoff": cutoff.isoformat()},
        )
    return deleted


def audit_entries_purge() -> int:
    """The scheduled purge (settings.HDMS_RETENTION): entries older than AUDIT_RETENTION_DAYS."""
    return purge(older_than_days=settings.AUDIT_RETENTION_DAYS, batch=settings.RETENTION_BATCH_SIZE)
