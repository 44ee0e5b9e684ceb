"""A request's total database time is bounded (DB_REQUEST_BUDGET_SECONDS, default 2 s).

PgBouncer's `query_wait_timeout` bounds each query's wait for a server connection, not a
request's: against a saturated pool a request of three queries could wait three times. This
middleware gives each request one budget for all its queries (waiting and running alike): before
a query it checks what is left, and while the query runs a timer cancels it (psycopg's
`cancel_safe()`, forwarded by PgBouncer) when the budget ends. Either way the request ends with
the JSON 503 `unavailable`, and a write's transaction rolls back whole (it is inside atomic()).

Written here, not taken from a library: no maintained package bounds a Django request's total
database time across queries; Django's execute_wrapper is the hook made for this.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import OperationalError, connections

logger = logging.getLogger("hdms.db")
# Statements that end or structure a transaction already holding its server connection: they
# never wait in PgBouncer's queue and must run even after the budget, or a rollback would fail.
TRANSACTION_CONTROL = ("ROLLBACK", "RELEASE", "SAVEPOINT")


class DatabaseBudgetExceeded(OperationalError):
    """The request spent its database budget; mapped to 503 `unavailable` by the API layer."""


class _Budget:
    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds
        self.seconds = seconds

    def __call__(self, execute, sql, params, many, context):
        if sql.lstrip()[:9].upper().startswith(TRANSACTION_CONTROL):
            return execute(sql, params, many, context)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise DatabaseBudgetExceeded(f"the request used its {self.seconds:g} s database budget")
        raw = context["connection"].connection
        timer = threading.Timer(remaining, _cancel, args=(raw,))
        timer.daemon = True
        timer.start()
        try:
            return execute(sql, params, many, context)
        except OperationalError as exc:
            if time.monotonic() >= self.deadline:
                raise DatabaseBudgetExceeded(f"the request used its {self.seconds:g} s database budget") from exc
            raise
        finally:
            timer.cancel()


def _cancel(raw) -> None:
    try:
        raw.cancel_safe(timeout=1.0)
    except Exception as exc:  # noqa: BLE001 - a failed cancel leaves the query to PgBouncer's own timeouts
        logger.warning("could not cancel a query past the request's budget: %s", exc)


class DatabaseBudgetMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        budget = _Budget(settings.DB_REQUEST_BUDGET_SECONDS)
        with connections["default"].execute_wrapper(budget):
            return self.get_response(request)
