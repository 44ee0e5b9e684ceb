"""The platform's Celery task, found by every service's worker (hdms_platform is an installed app)."""

from __future__ import annotations

from celery import shared_task

from hdms_platform.db import retention


@shared_task(name=retention.TASK, acks_late=True, time_limit=900, soft_time_limit=840)
def run_retention() -> dict[str, int | None]:
    """This service's purges (retention.run); sent by the beat process to each service's queue."""
    return retention.run()
