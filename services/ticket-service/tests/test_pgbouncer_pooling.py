"""Correctness under PgBouncer transaction pooling, with the test stack's pool of 2 per database.

These are the bugs that stay silent in development and break production: server-side cursors,
prepared statements and session state shared across clients by the pooler.
"""

import threading
import uuid

import psycopg
import pytest
from django.conf import settings
from django.db import connections, transaction

from apps.tickets.models import Ticket

pytestmark = pytest.mark.django_db(transaction=True)


def run_concurrently(count, target):
    errors = []

    def wrapper(index):
        try:
            target(index)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=wrapper, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


@pytest.fixture
def tickets():
    requester = uuid.uuid4()
    rows = Ticket.objects.bulk_create([Ticket(subject=f"pooling {i}", requester_id=requester) for i in range(300)])
    yield requester
    Ticket.objects.filter(id__in=[r.id for r in rows]).delete()


def test_pool_is_the_smallest():
    """PgBouncer itself reports pool size 2 for this database: the size that shows the bugs."""
    from hdms_platform.conf.env import env

    db = settings.DATABASES["default"]
    with (
        psycopg.connect(
            host=db["HOST"],
            port=db["PORT"],
            dbname="pgbouncer",
            user=env.str("PGBOUNCER_ADMIN_USER"),
            password=env.secret("PGBOUNCER_ADMIN_PASSWORD"),
            autocommit=True,
            cursor_factory=psycopg.ClientCursor,
            connect_timeout=3,
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SHOW DATABASES")
        columns = [c.name for c in cur.description]
        rows = {r["name"]: r for r in (dict(zip(columns, row, strict=True)) for row in cur.fetchall())}
    assert rows["hdms_ticket"]["pool_size"] == 2
    assert rows["hdms_ticket"]["pool_mode"] == "transaction"


def test_three_concurrent_iterators(tickets):
    seen = []

    def loop(index):
        count = sum(1 for _ in Ticket.objects.filter(requester_id=tickets).iterator(chunk_size=7))
        seen.append(count)

    errors = run_concurrently(3, loop)
    assert errors == []
    assert seen == [300, 300, 300]


def test_same_parametrised_query_from_four_clients_orm(tickets):
    def work(index):
        for i in range(20):
            assert Ticket.objects.filter(requester_id=tickets, subject=f"pooling {i}").count() == 1

    assert run_concurrently(4, work) == []


def raw_connect():
    db = settings.DATABASES["default"]
    return psycopg.connect(
        host=db["HOST"],
        port=db["PORT"],
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"],
        **db["OPTIONS"],
    )


def test_same_parametrised_query_from_four_clients_raw_psycopg(tickets):
    def work(index):
        with raw_connect() as conn:
            for i in range(20):
                row = conn.execute(
                    "SELECT count(*) FROM tickets_ticket WHERE requester_id = %s AND subject = %s", [tickets, f"pooling {i}"]
                ).fetchone()
                assert row[0] == 1
                conn.commit()

    assert run_concurrently(4, work) == []


def test_prepared_statements_would_break_and_are_off():
    """The guard has teeth: with psycopg's default prepare_threshold the same load fails."""
    db = settings.DATABASES["default"]
    assert db["OPTIONS"]["prepare_threshold"] is None

    def work(index):
        options = {**db["OPTIONS"], "prepare_threshold": 0}
        with psycopg.connect(
            host=db["HOST"], port=db["PORT"], dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"], **options
        ) as conn:
            for i in range(20):
                conn.execute("SELECT %s::int + %s::int", [i, index]).fetchone()
                conn.commit()

    errors = run_concurrently(4, work)
    assert errors, "prepared statements did not fail under transaction pooling: is PgBouncer in transaction mode?"
    assert any("prepared statement" in str(e) for e in errors)


def test_set_local_never_leaks_to_another_client():
    leaked = []
    barrier = threading.Barrier(2, timeout=20)

    def setter(_):
        with transaction.atomic(), connections["default"].cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = '12345ms'")
            cursor.execute("SHOW statement_timeout")
            assert cursor.fetchone()[0] == "12345ms"
        barrier.wait()

    def reader(_):
        barrier.wait()
        for _ in range(10):
            with connections["default"].cursor() as cursor:
                cursor.execute("SHOW statement_timeout")
                value = cursor.fetchone()[0]
                if value == "12345ms":
                    leaked.append(value)

    errors = run_concurrently(2, lambda i: (setter if i == 0 else reader)(i))
    assert errors == []
    assert leaked == []
