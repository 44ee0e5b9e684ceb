"""No-op tasks for `make bench`'s Celery row, loaded into a file-service worker with
`celery worker --include bench_noop` (bench/ on PYTHONPATH): the worker runs with the production
settings and signal handlers (metrics, access log, request ids, connection upkeep); only the
task's own acknowledgement mode differs between the two."""

from celery import shared_task


@shared_task(name="bench.noop.acks_late", acks_late=True, ignore_result=True)
def noop_acks_late() -> None:
    """As every HDMS task: acknowledged after it ran, so a dead worker's task is redelivered."""


@shared_task(name="bench.noop.acks_early", acks_late=False, ignore_result=True)
def noop_acks_early() -> None:
    """Acknowledged when received: a worker that dies mid-task loses it."""
