"""Celery tasks of the file-service: they take ids, are idempotent, acknowledged late."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="hdms.file.ping", ignore_result=False, acks_late=True, time_limit=10)
def ping(nonce: str) -> str:
    """Round-trip probe used by scripts/verify-celery-broker.sh: proves a worker consumed the queue."""
    return f"pong:{nonce}"
