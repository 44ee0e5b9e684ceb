"""Django's PostgreSQL backend with one change: the connection health check (CONN_HEALTH_CHECKS)
asks the socket, not the server.

Django's check runs `SELECT 1` before a request's first query. Behind PgBouncer in transaction
mode that is a whole extra query, queued for a server connection like any other, and outside every
execute wrapper, so outside the request's database budget (hdms_platform.db.budget): with the pool
saturated it alone could wait `query_wait_timeout`. An idle connection to PgBouncer has nothing to
say; if its socket is readable, the peer closed it or sent an error (PgBouncer or PostgreSQL
shutting down), so it is not usable. No round trip, and a restarted PgBouncer is still noticed.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        raw = self.connection
        if raw is None or raw.closed or raw.broken or raw.pgconn.transaction_status != TransactionStatus.IDLE:
            return False
        poller = select.poll()
        poller.register(raw.pgconn.socket, select.POLLIN | select.POLLERR | select.POLLHUP)
        return not poller.poll(0)
