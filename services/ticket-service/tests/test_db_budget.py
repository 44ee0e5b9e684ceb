"""A request's total database time is bounded (hdms_platform.db.budget), against the real database
through PgBouncer: a query still running when the budget ends is interrupted, a query after it is
refused, the request answers the JSON 503, and a write it began is rolled back whole.

They commit for real (transaction=True): the interrupted connection is broken, as in production.
"""

from __future__ import annotations

import os
import socket
import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection, transaction

from apps.tickets import selectors
from apps.tickets.models import Ticket
from hdms_platform.db import budget as dbbudget

pytestmark = pytest.mark.django_db(transaction=True)
BUDGET = 0.4
MARGIN = 0.5


@pytest.fixture
def budget(settings):
    settings.DB_REQUEST_BUDGET_SECONDS = BUDGET
    yield BUDGET
    connection.close_if_unusable_or_obsolete()  # what request_finished does (the test client skips it)


def _sleep_in_the_database(seconds: float) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [seconds])


def test_a_query_still_running_at_the_end_of_the_budget_is_interrupted_and_the_request_gets_503(actors, budget, monkeypatch):
    def slow_queryset(**kwargs):
        _sleep_in_the_database(5)
        raise AssertionError("the budget should have ended the query")

    monkeypatch.setattr(selectors, "ticket_queryset", slow_queryset)
    started = time.monotonic()
    response = actors["agent"].client.get("/api/v1/tickets/?page_size=3")
    took = time.monotonic() - started
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "unavailable"
    assert f"within {BUDGET:g} s" in response.json()["error"]["message"]
    assert BUDGET <= took <= BUDGET + MARGIN, took
    connection.close_if_unusable_or_obsolete()  # the request's end discards the broken connection
    with connection.cursor() as cursor:  # and the next query, on a new connection, works
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_a_write_interrupted_by_the_budget_is_rolled_back_whole(actors, budget, monkeypatch):
    from apps.tickets import services

    real_create = services.ticket_create

    def atomic_create(**kwargs):
        with transaction.atomic():
            ticket = real_create(**kwargs)  # the ticket, its history, outbox and audit rows
            _sleep_in_the_database(5)  # the budget ends here, before the COMMIT
            return ticket

    monkeypatch.setattr(services, "ticket_create", atomic_create)
    response = actors["customer_a"].client.post("/api/v1/tickets/", {"subject": "half"}, format="json")
    assert response.status_code == 503, response.content
    connection.close_if_unusable_or_obsolete()
    assert not Ticket.objects.filter(subject="half").exists()


def test_a_query_after_the_budget_is_refused_without_reaching_the_database(budget):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        token = dbbudget._deadline.set(time.monotonic() - 0.01)
        try:
            with pytest.raises(dbbudget.DatabaseBudgetExceeded):
                cursor.execute("SELECT 1")
            cursor.execute("SAVEPOINT s1")  # transaction control still runs after the budget
            cursor.execute("ROLLBACK TO SAVEPOINT s1")
        finally:
            dbbudget._deadline.reset(token)
    with connection.cursor() as cursor:  # outside a request: no budget
        cursor.execute("SELECT 1")


def test_the_budget_reaches_sync_code_under_the_async_middleware(budget):
    """The ASGI service's requests: the async middleware's deadline is seen by the view's sync code
    (sync_to_async runs it in a thread with the request's context)."""

    async def view(request):
        return await sync_to_async(dbbudget._deadline.get)()

    middleware = dbbudget.DatabaseBudgetMiddleware(view)
    before = time.monotonic()
    deadline = async_to_sync(middleware)(object())
    assert deadline is not None and before + BUDGET <= deadline <= time.monotonic() + BUDGET
    assert dbbudget._deadline.get() is None  # and it ends with the request


def test_the_health_check_asks_the_socket_not_the_server():
    """hdms_platform.db.postgresql: no `SELECT 1` queued at PgBouncer before each request's first query,
    yet a connection PgBouncer closed is seen as unusable."""
    connection.ensure_connection()
    raw = connection.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity")  # a round trip, to compare with
    assert connection.is_usable()
    with socket.socket(fileno=os.dup(raw.pgconn.socket)) as sock:
        sock.shutdown(socket.SHUT_WR)  # we say goodbye: PgBouncer closes its end
    deadline = time.monotonic() + 2
    while connection.is_usable() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not connection.is_usable()
    connection.close()
