"""The events worker keeps its database connection between tasks, like a request does, and drops a
broken one (hdms_platform.celery.app): a new connection through PgBouncer costs more than a task."""

import os
import socket

import pytest
from django.db import connection

from core.celery import app
from hdms_platform.celery.app import close_old_connections, keep_connection_for_max_age

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker_settings():
    before = connection.settings_dict["CONN_MAX_AGE"]
    keep_connection_for_max_age()  # what worker_process_init does in each worker process
    yield
    connection.settings_dict["CONN_MAX_AGE"] = before
    connection.close()


def test_the_connection_is_kept_between_tasks_and_a_broken_one_is_dropped(worker_settings):
    assert app.conf.get("CELERY_DB_REUSE_MAX") >= 10**6  # Celery's own per-task close is off
    assert connection.settings_dict["CONN_MAX_AGE"] == 60  # although this ASGI service's web side uses 0
    connection.close()
    connection.ensure_connection()
    kept = connection.connection
    close_old_connections()  # task_postrun, then the next task's task_prerun
    close_old_connections()
    assert connection.connection is kept

    with socket.socket(fileno=os.dup(kept.pgconn.socket)) as sock:
        sock.shutdown(socket.SHUT_RDWR)  # PgBouncer restarted under it, say
    close_old_connections()  # the next task's start
    with connection.cursor() as cursor:  # its first query: the health check saw the dead socket
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    assert connection.connection is not kept  # so it connected afresh instead of failing

    connection.errors_occurred = True  # a task that failed on its connection
    kept = connection.connection
    with socket.socket(fileno=os.dup(kept.pgconn.socket)) as sock:
        sock.shutdown(socket.SHUT_RDWR)
    close_old_connections()  # its end: dropped at once
    assert connection.connection is None
