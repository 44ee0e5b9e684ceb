"""A request's total database time is bounded (DB_REQUEST_BUDGET_SECONDS, default 2 s).

PgBouncer's `query_wait_timeout` bounds each query's wait for a server connection, not a
request's: against a saturated pool a request of three queries could wait three times. Here each
request gets one budget for all its queries, waiting and running alike: a query that starts after
the budget is spent is refused, and a query still waiting or running when it ends is interrupted
by a watchdog. Either way the request ends with the JSON 503 `unavailable` (api.exception_handler),
and a write's transaction rolls back whole (it runs inside atomic()). COMMIT is never interrupted
(Django sends it outside execute wrappers), so the budget cannot make an outcome unknown.
Connection set-up and the health check are not queries queued at PgBouncer (hdms_platform.db.postgresql).

Written here, not taken from a library: no maintained package bounds a Django request's total
database time across queries; Django's execute wrappers and psycopg's cancel are the hooks for it.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.db import OperationalError
from django.db.backends.signals import connection_created

if TYPE_CHECKING:
    from django.http import HttpRequest

logger = logging.getLogger("hdms.db")
_deadline: ContextVar[float | None] = ContextVar("hdms_db_deadline", default=None)
# Statements that end or structure a transaction already holding its server connection: they never
# wait in PgBouncer's queue, and a rollback must run even after the budget.
TRANSACTION_CONTROL = ("ROLLBACK", "RELEASE", "SAVEPOINT")


class DatabaseBudgetExceeded(OperationalError):
    """The request spent its database budget: 503 `unavailable`."""


class _Watch:
    """One query under watch: the watchdog interrupts it at `deadline` unless it ended first."""

    __slots__ = ("deadline", "lock", "raw", "state")

    def __init__(self, deadline: float, raw: Any) -> None:
        self.deadline, self.raw, self.lock, self.state = deadline, raw, threading.Lock(), "running"


class _Watchdog:
    """One thread per process and a heap of deadlines: a query costs a heap push, not a timer thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: float, raw: Any) -> _Watch:
        watch = _Watch(deadline, raw)
        with self._cond:
            heapq.heappush(self._heap, (deadline, next(self._order), watch))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="hdms-db-budget", daemon=True)
                self._thread.start()
            self._cond.notify()
        return watch

    @staticmethod
    def done(watch: _Watch) -> bool:
        """The query ended; whether the watchdog interrupted it (waits for an interrupt in progress)."""
        with watch.lock:
            interrupted = watch.state == "interrupted"
            watch.state = "done"
        return interrupted

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][2].state == "done":
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                watch = heapq.heappop(self._heap)[2]
            with watch.lock:
                if watch.state == "running":
                    watch.state = "interrupted"
                    _interrupt(watch.raw)


def _interrupt(raw: Any) -> None:
    """End the query now. A cancel first, which PgBouncer forwards to the server running it (so the
    server stops too); but PgBouncer 1.18 ignores a cancel for a query still queued for a server
    connection (measured: it waited on until `query_wait_timeout`), so the client's socket is then
    shut down, which ends the wait in every case. The connection is broken and Django discards it;
    the transaction, never committed, is rolled back by the server."""
    try:
        raw.cancel_safe(timeout=0.2)
    except Exception as exc:  # noqa: BLE001 - best effort: the shutdown below is what bounds the wait
        logger.info("cancel of a query past its request's database budget failed: %s", exc)
    try:
        with socket.socket(fileno=os.dup(raw.pgconn.socket)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError as exc:  # already closed
        logger.info("shutdown of a connection past its request's database budget failed: %s", exc)


_WATCHDOG = _Watchdog()


def _bounded(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    deadline = _deadline.get()
    if deadline is None or sql.lstrip()[:9].upper().startswith(TRANSACTION_CONTROL):
        return execute(sql, params, many, context)
    budget = settings.DB_REQUEST_BUDGET_SECONDS
    if time.monotonic() >= deadline:
        raise DatabaseBudgetExceeded(f"the request used its {budget:g} s database budget")
    watch = _WATCHDOG.watch(deadline, context["connection"].connection)
    try:
        result = execute(sql, params, many, context)
    except Exception as exc:
        if _WATCHDOG.done(watch):
            raise DatabaseBudgetExceeded(f"the request used its {budget:g} s database budget") from exc
        raise
    _WATCHDOG.done(watch)
    return result


def _install(sender: Any, connection: Any, **kwargs: Any) -> None:
    if _bounded not in connection.execute_wrappers:
        connection.execute_wrappers.append(_bounded)


connection_created.connect(_install, weak=False, dispatch_uid="hdms-db-budget")


class DatabaseBudgetMiddleware:
    """Starts each request's budget (HTTP only: sockets, tasks and commands have none)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        token = _deadline.set(time.monotonic() + settings.DB_REQUEST_BUDGET_SECONDS)
        try:
            return self.get_response(request)
        finally:
            _deadline.reset(token)

    async def _acall(self, request: HttpRequest) -> Any:
        token = _deadline.set(time.monotonic() + settings.DB_REQUEST_BUDGET_SECONDS)
        try:
            return await self.get_response(request)
        finally:
            _deadline.reset(token)
