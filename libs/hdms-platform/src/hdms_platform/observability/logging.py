"""Logs: a request id on every line, one access-log line per request and per task.

The id comes from the caller's X-Request-ID (the gateway makes one when the client sent none) or is
made here; it is echoed on the response, sent on every service-to-service call (peers/http.py), put
on Celery messages and outbox events (celery.py, outbox), and set for each WebSocket's lines, so
one id finds a request's whole path across services, tasks and sockets. JSON lines come from
python-json-logger (LOG_FORMAT=json, always in production); development keeps the console format.
"""

from __future__ import annotations

import contextvars
import logging
import logging.handlers
import os
import queue
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pythonjsonlogger.json import JsonFormatter as _LibraryJsonFormatter

if TYPE_CHECKING:
    from django.http import HttpRequest
    from django.http.response import HttpResponseBase

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
access_logger = logging.getLogger("hdms.access")


def valid_request_id(value: str | None) -> str:
    """The caller's id when well formed, else a fresh one."""
    return value if value and _VALID_ID.match(value) else uuid.uuid4().hex


def current_request_id() -> str | None:
    value = request_id_var.get()
    return None if value == "-" else value


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(_LibraryJsonFormatter):
    """One JSON object per line: ts (UTC, ISO 8601), level, logger, message, request_id, and any
    `extra=` fields of the call (the access log's method, route, status...)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="ts",
        )


class _NoLock:
    """A lock that never waits, for a handler whose queue needs none: Python 3.11's Handler calls
    acquire()/release(), 3.13's (the app image) enters it as a context manager."""

    def acquire(self, *args: Any) -> bool:
        return True

    def release(self) -> None:
        return None

    def __enter__(self) -> bool:
        return True

    def __exit__(self, *exc: object) -> None:
        return None


_NO_LOCK = _NoLock()


class AccessLogHandler(logging.handlers.QueueHandler):
    """The access log's handler: the request thread formats its line and queues it; one thread per
    process writes the lines out. A StreamHandler holds its lock while it formats and writes, so
    gthread's request threads queued behind each other's log line (the largest single cost of a
    cached read in the bench profile, docs/performance-profiles.md). The stdlib's queue handler
    and listener, not ours; what is ours: no lock around a queue that needs none, the listener
    started in the process that logs (a forked worker gets its own), and drained when logging
    shuts down at exit. Lines
    still queued when a process is killed outright are lost; other loggers stay synchronous."""

    def __init__(self) -> None:
        super().__init__(queue.SimpleQueue())
        self._stream = sys.stderr  # now, at configuration: Celery later swaps sys.stderr for a logger
        self._listener: logging.handlers.QueueListener | None = None
        self._pid: int | None = None
        self._start_lock = threading.Lock()

    def createLock(self) -> None:
        self.lock = _NO_LOCK  # type: ignore[assignment]  # the queue is thread-safe; no lock needed

    def emit(self, record: logging.LogRecord) -> None:
        if self._pid != os.getpid():
            self._start()
        super().emit(record)

    def _start(self) -> None:
        with self._start_lock:
            if self._pid == os.getpid():
                return
            self.queue = queue.SimpleQueue()  # a forked child does not share its parent's writer
            writer = logging.StreamHandler(self._stream)
            writer.setFormatter(logging.Formatter("%(message)s"))  # formatted by prepare()
            self._listener = logging.handlers.QueueListener(self.queue, writer)
            self._listener.start()
            self._pid = os.getpid()

    def close(self) -> None:
        """At exit (logging.shutdown closes every handler): write out what is queued."""
        listener, self._listener = self._listener, None
        if listener is not None and self._pid == os.getpid():
            listener.stop()
        super().close()


def _user_id(request: HttpRequest) -> str | None:
    user_id = getattr(getattr(request, "user", None), "id", None)  # DRF sets `user` once authenticated
    return str(user_id) if user_id else None


class RequestIdMiddleware:
    """Takes a well-formed X-Request-ID from the caller or makes one; echoes it on the response;
    writes the access-log line (method, route template, path, status, duration, user id; never a
    header, a query string or a body, so never a token or a password). Prometheus' scrapes of
    /metrics are counted in the metrics, not logged."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        request_id = valid_request_id(request.headers.get("X-Request-ID"))
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            request.request_id = request_id  # type: ignore[attr-defined]  # read by views and the audit log
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            from hdms_platform.observability.middleware import route_of

            route = route_of(request)
            if route != "/metrics" and access_logger.isEnabledFor(logging.INFO):  # scrapes are not traffic
                duration_ms = round((time.perf_counter() - started) * 1000, 1)
                user_id = _user_id(request)
                access_logger.info(
                    "%s %s %s %.1fms user=%s",
                    request.method,
                    request.path,
                    response.status_code,
                    duration_ms,
                    user_id or "-",
                    extra={
                        "method": request.method,
                        "route": route,
                        "path": request.path,
                        "status": response.status_code,
                        "duration_ms": duration_ms,
                        "user_id": user_id,
                    },
                )
            return response
        finally:
            request_id_var.reset(token)


class WebSocketRequestId:
    """ASGI middleware: a socket's log lines carry the id of its handshake (X-Request-ID from the
    gateway or client, else a fresh one), and the handshake is logged like a request."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        token = request_id_var.set(valid_request_id(headers.get(b"x-request-id", b"").decode("latin-1")))
        try:
            access_logger.info(
                "WEBSOCKET %s", scope.get("path", ""), extra={"method": "WEBSOCKET", "path": scope.get("path", "")}
            )
            return await self.app(scope, receive, send)
        finally:
            request_id_var.reset(token)
