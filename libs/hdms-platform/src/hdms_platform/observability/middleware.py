"""Where the instruments are fed for every service alike: HTTP requests (by route template), database
queries (every connection), WebSocket messages and closes (ASGI), Celery tasks (signals)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase

from hdms_platform.observability.export import serve
from hdms_platform.observability.instruments import (
    DB_ERRORS,
    DB_QUERIES,
    HTTP_LATENCY,
    HTTP_REQUESTS,
    TASK_DURATION,
    TASKS,
    WEBSOCKET_CLOSES,
    WEBSOCKET_MESSAGES,
    WEBSOCKET_OPEN,
)


class MetricsMiddleware:
    """Counts and times every request by its route template (Django's resolver match), method and
    status; a path that matched no route counts as `<unmatched>`, so scanners cannot grow the label set."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = self.get_response(request)
        route = route_of(request)
        method = request.method if request.method in _METHODS else "OTHER"
        HTTP_LATENCY.labels(route, method).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(route, method, str(response.status_code)).inc()
        return response


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_of(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return "/" + match.route if match is not None and match.route else "<unmatched>"


def _time_query(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    alias = context["connection"].alias
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    except Exception as exc:
        DB_ERRORS.labels(alias, type(exc).__name__).inc()
        raise
    finally:
        DB_QUERIES.labels(alias).observe(time.perf_counter() - started)


def instrument_connection(sender: Any, connection: Any, **kwargs: Any) -> None:
    """connection_created: time every query of this connection (the wrapper list outlives reconnects)."""
    if _time_query not in connection.execute_wrappers:
        connection.execute_wrappers.append(_time_query)


class WebSocketMetrics:
    """ASGI middleware around the socket application: open connections, messages each way, closes
    by code and by whom. It watches the ASGI messages, so every consumer is counted the same way."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            return await self.app(scope, receive, send)
        state = {"accepted": False, "closed": False}
        messages_in, messages_out = WEBSOCKET_MESSAGES.labels("in"), WEBSOCKET_MESSAGES.labels("out")  # once per socket

        async def counted_receive() -> dict[str, Any]:
            message: dict[str, Any] = await receive()
            if message["type"] == "websocket.receive":
                messages_in.inc()
            elif message["type"] == "websocket.disconnect" and not state["closed"]:
                state["closed"] = True
                WEBSOCKET_CLOSES.labels(str(message.get("code", 1005)), "client").inc()
            return message

        async def counted_send(message: dict[str, Any]) -> None:
            kind = message["type"]
            if kind == "websocket.accept" and not state["accepted"]:
                state["accepted"] = True
                WEBSOCKET_OPEN.inc()
            elif kind == "websocket.send":
                messages_out.inc()
            elif kind == "websocket.close" and not state["closed"]:
                state["closed"] = True
                WEBSOCKET_CLOSES.labels(str(message.get("code", 1000)), "server").inc()
            await send(message)

        try:
            return await self.app(scope, counted_receive, counted_send)
        finally:
            if state["accepted"]:
                WEBSOCKET_OPEN.dec()


def install_celery_signals() -> None:
    """Task counts, failures, retries and durations from Celery's signals; the worker's main
    process serves them (HDMS_METRICS_PORT) for all its pool processes."""
    from celery import signals  # here: the services without Celery never import it

    started: dict[str, float] = {}

    @signals.worker_init.connect(weak=False)
    def _serve(**kwargs: Any) -> None:
        serve()

    @signals.task_prerun.connect(weak=False)
    def _start(task_id: str = "", **kwargs: Any) -> None:
        started[task_id] = time.perf_counter()

    @signals.task_postrun.connect(weak=False)
    def _finish(task_id: str = "", task: Any = None, state: str | None = None, **kwargs: Any) -> None:
        began = started.pop(task_id, None)
        if began is not None:
            TASK_DURATION.labels(task.name).observe(time.perf_counter() - began)
        if state == "SUCCESS":
            TASKS.labels(task.name, "succeeded").inc()

    @signals.task_failure.connect(weak=False)
    def _failed(sender: Any = None, **kwargs: Any) -> None:
        TASKS.labels(sender.name, "failed").inc()

    @signals.task_retry.connect(weak=False)
    def _retried(sender: Any = None, **kwargs: Any) -> None:
        TASKS.labels(sender.name, "retried").inc()
