"""Retention: what each service deletes once it is old enough, in short batches, on a schedule.

Each service lists its purges in `settings.HDMS_RETENTION` (dotted paths to functions that take
no argument and return how many rows they deleted). One task, `hdms.retention`, runs them on the
service's own queue, so each purge runs with that service's own database role; the single beat
process (beat.py) sends the task to every service's queue each RETENTION_INTERVAL_SECONDS.
`manage.py retention` runs the same purges once, by hand.

Every purge deletes through `delete_in_batches`: RETENTION_BATCH_SIZE rows per transaction, so no
lock is held for long and a busy table keeps taking writes while it shrinks.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils.module_loading import import_string

from hdms_platform.observability.instruments import RETENTION_DELETED, RETENTION_FAILURES

logger = logging.getLogger("hdms.retention")
TASK = "hdms.retention"


def delete_in_batches(queryset: QuerySet[Any], batch: int | None = None) -> int:
    """Delete what `queryset` selects, at most `batch` rows per transaction; returns how many."""
    batch = batch or settings.RETENTION_BATCH_SIZE
    model = queryset.model
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch])
            if ids:
                deleted += model._default_manager.filter(pk__in=ids).delete()[1].get(model._meta.label, 0)
        if len(ids) < batch:
            return deleted


def run() -> dict[str, int | None]:
    """Every purge of this service, each on its own: one that fails is logged and counted, and the
    others still run (the next scheduled run tries it again). Returns the rows each purge deleted,
    None for one that failed."""
    done: dict[str, int | None] = {}
    for path in settings.HDMS_RETENTION:
        name = path.rsplit(".", 1)[-1]
        started = time.perf_counter()
        try:
            done[name] = import_string(path)()
        except Exception:
            RETENTION_FAILURES.labels(name).inc()
            logger.exception("retention: %s failed", name)
            done[name] = None
            continue
        deleted = done[name] or 0
        RETENTION_DELETED.labels(name).inc(deleted)
        if deleted:
            logger.info(
                "retention: %s deleted %d row(s) in %.0f ms",
                name,
                done[name],
                (time.perf_counter() - started) * 1000,
                extra={"purge": name, "deleted": done[name]},
            )
    return done
