"""One Celery app factory for the services that run or send tasks (file, communication, ticket).

Broker on the broker role (Redis db 2); settings from `celery_config(service)` in the service's
settings; each service consumes only its own queue `hdms.<service>`. Every message carries the
request id of whoever sent it, and a worker runs the task under that id; a worker exports its
task metrics (hdms_platform.metrics) and writes one access-log line per task.
"""

from __future__ import annotations

import logging
import os
import time

from celery import Celery, signals

from .logging import access_logger, current_request_id, request_id_var, valid_request_id
from .metrics import install_celery_signals
from .startup import settings_module

REQUEST_ID_HEADER = "hdms_request_id"


def make_app(service: str) -> Celery:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module())
    app = Celery(f"{service}_service")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.autodiscover_tasks()
    install_celery_signals()
    _carry_request_ids()
    return app


def _carry_request_ids() -> None:
    tokens: dict[str, tuple[object, float]] = {}

    @signals.before_task_publish.connect(weak=False)
    def _stamp(headers=None, **kwargs):
        request_id = current_request_id()
        if request_id and headers is not None:
            headers.setdefault(REQUEST_ID_HEADER, request_id)

    @signals.task_prerun.connect(weak=False)
    def _enter(task_id=None, task=None, **kwargs):
        incoming = getattr(task.request, REQUEST_ID_HEADER, None) or (task.request.headers or {}).get(REQUEST_ID_HEADER)
        tokens[task_id] = (request_id_var.set(valid_request_id(incoming)), time.perf_counter())

    @signals.task_postrun.connect(weak=False)
    def _leave(task_id=None, task=None, state=None, **kwargs):
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


def queue(service: str) -> str:
    return f"hdms.{service}"


INGEST_EVENT_TASK = "hdms.communication.ingest_event"


def send(app: Celery, task: str, args: list, service: str) -> None:
    """Send one task to a service's queue, once (no retry: the caller's outbox retries); raises when
    the broker is unreachable.

    ignore_result: send_task does not read task_ignore_result, and without it Celery's Redis result
    backend subscribes for the result; after a Redis outage of over 20 s that subscriber gives up
    for good ("the Celery application must be restarted") and every later send fails."""
    app.send_task(task, args=args, queue=queue(service), retry=False, ignore_result=True)


def send_event(app: Celery, event: dict) -> None:
    """Hand one event to communication-service's queue."""
    send(app, INGEST_EVENT_TASK, [event], "communication")
