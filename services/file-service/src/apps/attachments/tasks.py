"""Celery tasks of the file-service: they take ids, are idempotent, acknowledged late."""

from __future__ import annotations

import uuid

from celery import shared_task
from django.db import DatabaseError

from . import services
from .services import PROCESS_TASK


@shared_task(name="hdms.file.ping", ignore_result=False, acks_late=True, time_limit=10)
def ping(nonce: str) -> str:
    """Round-trip probe used by scripts/verify-celery-broker.sh: proves a worker consumed the queue."""
    return f"pong:{nonce}"


@shared_task(
    name=PROCESS_TASK,
    acks_late=True,
    autoretry_for=(DatabaseError, OSError),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=10,
    time_limit=120,
    soft_time_limit=100,
)
def process_attachment(attachment_id: str) -> str:  # a UUID's text: task arguments are JSON
    """Redelivered when a worker dies mid-task (acks_late + reject_on_worker_lost); a second run
    finds the row finished, or finishes it, and never announces it twice."""
    attachment = services.attachment_process(attachment_id=uuid.UUID(attachment_id))
    return attachment.status if attachment else "missing"
