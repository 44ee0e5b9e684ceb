"""One Celery app factory for the services that run or send tasks (file, communication, ticket).

Broker on the broker role (Redis db 2); settings from hdms_platform.conf.defaults (CELERY_*) in the service's
settings; each service consumes only its own queue `hdms.<service>`. Every message carries the
request id of whoever sent it, and a worker runs the task under that id; a worker exports its
task metrics (hdms_platform.observability.middleware) and writes one access-log line per task.
"""

from __future__ import annotations

import contextvars
import logging
import os
import time
from typing import Any

from celery import Celery, Task, signals
from celery.exceptions import Reject

from hdms_platform.conf.catalogue import task_queue
from hdms_platform.conf.env import settings_module
from hdms_platform.observability.logging import access_logger, current_request_id, request_id_var, valid_request_id
from hdms_platform.observability.middleware import install_celery_signals

REQUEST_ID_HEADER = "hdms_request_id"


class RequeueingTask(Task):  # type: ignore[misc]  # celery ships no types
    """Every HDMS task's base class (make_app's task_cls).

    Celery's `retry` raises Reject(requeue=False) when it cannot publish the retry message, which
    is exactly when the broker is down; with acks_late that drops the task (the fault suite lost an
    event that way). Here it is requeued instead, and if even that fails the message stays
    unacknowledged and the broker hands it out again after the visibility timeout. Never dropped."""

    def retry(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().retry(*args, **kwargs)
        except Reject as rejected:
            if rejected.requeue:
                raise
            raise Reject(rejected.reason, requeue=True) from None


def make_app(service: str) -> Celery:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module())
    app = Celery(f"{service}_service", task_cls=RequeueingTask)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.autodiscover_tasks()
    install_celery_signals()
    _carry_request_ids()
    _keep_connections()
    return app


def _keep_connections() -> None:
    """A worker treats each task like Django treats a request: its database connection is kept
    between tasks for `DB_CONN_MAX_AGE` (60 s) and closed early only if unusable
    (`close_old_connections` around each task). Celery's Django fixup would close it before and
    after every task (hdms_platform.conf.defaults sets CELERY_DB_REUSE_MAX so it does not), and an ASGI service's
    settings open one per request (CONN_MAX_AGE 0, raised here for its worker). A new connection
    through PgBouncer costs ~11 ms (measured: TCP, SCRAM, first query): 42% of the events
    worker's time in a py-spy profile, before this."""
    signals.worker_init.connect(keep_connection_for_max_age, weak=False)
    signals.worker_process_init.connect(keep_connection_for_max_age, weak=False)
    signals.task_prerun.connect(close_old_connections, weak=False)
    signals.task_postrun.connect(close_old_connections, weak=False)


def keep_connection_for_max_age(**kwargs: Any) -> None:
    from django.db import connections

    from hdms_platform.conf.env import env

    connections["default"].settings_dict["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", 60, min_value=0)


def close_old_connections(**kwargs: Any) -> None:
    """What Django runs at each request's start and end: drop connections unusable or too old."""
    from django.db import close_old_connections as close

    close()


def _carry_request_ids() -> None:
    tokens: dict[str, tuple[contextvars.Token[str] | None, float]] = {}

    @signals.before_task_publish.connect(weak=False)
    def _stamp(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
        request_id = current_request_id()
        if request_id and headers is not None:
            headers.setdefault(REQUEST_ID_HEADER, request_id)

    @signals.task_prerun.connect(weak=False)
    def _enter(task_id: str = "", task: Any = None, **kwargs: Any) -> None:
        incoming = getattr(task.request, REQUEST_ID_HEADER, None) or (task.request.headers or {}).get(REQUEST_ID_HEADER)
        tokens[task_id] = (request_id_var.set(valid_request_id(incoming)), time.perf_counter())

    @signals.task_postrun.connect(weak=False)
    def _leave(task_id: str = "", task: Any = None, state: str | None = None, **kwargs: Any) -> None:
        token, started = tokens.pop(task_id, (None, time.perf_counter()))
        if access_logger.isEnabledFor(logging.INFO):
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            access_logger.info(
                "TASK %s %s %.1fms",
                task.name,
                state,
                duration_ms,
                extra={"task": task.name, "state": state, "duration_ms": duration_ms},
            )
        if token is not None:
            request_id_var.reset(token)


INGEST_EVENT_TASK = "hdms.communication.ingest_event"
RESEND_EVENTS_TASK = "hdms.outbox.resend"


def send(app: Celery, task: str, args: list[Any], service: str) -> None:
    """Send one task to a service's queue, once (no retry: the caller's outbox retries); raises when
    the broker is unreachable."""
    send_to(app, task, args, task_queue(service))


def send_to(app: Celery, task: str, args: list[Any], queue: str) -> None:
    """`send` to a named queue (an event subscriber's, outbox/subscribers.py).

    ignore_result: send_task does not read task_ignore_result, and without it Celery's Redis result
    backend subscribes for the result; after a Redis outage of over 20 s that subscriber gives up
    for good ("the Celery application must be restarted") and every later send fails."""
    app.send_task(task, args=args, queue=queue, retry=False, ignore_result=True)


def request_resend(app: Celery, source: str, first: int, last: int) -> None:
    """Ask a source service to publish its stream events numbered first..last again (the events
    worker's repair of a gap; hdms_platform.outbox.tasks)."""
    send(app, RESEND_EVENTS_TASK, [first, last], source)
