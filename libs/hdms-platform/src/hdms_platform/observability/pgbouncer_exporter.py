"""A Prometheus exporter for PgBouncer: `python -m hdms_platform.observability.pgbouncer_exporter`.

Why our own, about sixty lines, instead of a package: Debian 12's prometheus-pgbouncer-exporter
(1.7) crashes at start against Debian 12's PgBouncer 1.18 (it reads SHOW STATS' `total_requests`,
renamed in PgBouncer 1.8) and holds one connection it never reopens; PyPI's
prometheus-pgbouncer-exporter pins psycopg2 2.8.5 and prometheus-client 0.8 (no Python 3.11
build); prometheus-community's Go exporter is not packaged for Debian. The exposition is
prometheus-client's; metric names follow the Go exporter's, so its dashboards and our alert rules
work unchanged in compose, where that exporter's image runs.

Each scrape opens one connection to PgBouncer's admin console as the stats user (SHOW commands
only), reads SHOW POOLS and SHOW STATS, and closes it: a PgBouncer restart costs one failed scrape
(`pgbouncer_up 0`), never a stuck exporter. Settings from the environment: PGBOUNCER_HOST,
PGBOUNCER_PORT, PGBOUNCER_STATS_USER, PGBOUNCER_STATS_PASSWORD, PGBOUNCER_EXPORTER_PORT,
HDMS_METRICS_HOST (listen address, default loopback).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from hdms_platform.conf.env import env

POOL_GAUGES = {
    "cl_active": ("pools_client_active_connections", "Client connections linked to a server connection"),
    "cl_waiting": ("pools_client_waiting_connections", "Client connections waiting for a server connection"),
    "sv_active": ("pools_server_active_connections", "Server connections linked to a client"),
    "sv_idle": ("pools_server_idle_connections", "Server connections idle and ready"),
    "sv_used": ("pools_server_used_connections", "Server connections idle longer than server_check_delay"),
}
STATS_COUNTERS = {  # column -> (name, help, scale to base units)
    "total_xact_count": ("stats_sql_transactions_pooled", "Transactions pooled", 1),
    "total_query_count": ("stats_queries_pooled", "Queries pooled", 1),
    "total_query_time": ("stats_queries_duration_seconds", "Time spent running queries", 1e-6),
    "total_wait_time": ("stats_client_wait_seconds", "Time clients spent waiting for a server connection", 1e-6),
    "total_received": ("stats_received_bytes", "Bytes received from clients", 1),
    "total_sent": ("stats_sent_bytes", "Bytes sent to clients", 1),
}


class PgBouncerCollector:
    def __init__(self, **connect: Any) -> None:
        self.connect = connect

    def _rows(self, conn: psycopg.Connection[Any], command: str) -> list[dict[str, Any]]:
        with conn.cursor() as cur:
            cur.execute(command)
            names = [c.name for c in cur.description or []]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        up = GaugeMetricFamily("pgbouncer_up", "1 when PgBouncer's admin console answered this scrape")
        try:
            with psycopg.connect(**self.connect, autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
                pools, stats = self._rows(conn, "SHOW POOLS"), self._rows(conn, "SHOW STATS")
        except psycopg.Error:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        for column, (name, text) in POOL_GAUGES.items():
            family = GaugeMetricFamily(f"pgbouncer_{name}", text, labels=["database", "user"])
            for row in pools:
                family.add_metric([row["database"], row["user"]], float(row.get(column) or 0))
            yield family
        maxwait = GaugeMetricFamily(
            "pgbouncer_pools_client_maxwait_seconds", "Wait of the oldest waiting client", labels=["database", "user"]
        )
        for row in pools:
            maxwait.add_metric([row["database"], row["user"]], float(row["maxwait"]) + float(row.get("maxwait_us") or 0) / 1e6)
        yield maxwait
        for column, (name, text, scale) in STATS_COUNTERS.items():
            counter = CounterMetricFamily(f"pgbouncer_{name}", text, labels=["database"])
            for row in stats:
                counter.add_metric([row["database"]], float(row[column]) * scale)
            yield counter
        yield GaugeMetricFamily("pgbouncer_exporter_scrape_seconds", "Time this scrape took", value=time.perf_counter() - started)


def main() -> None:
    registry = CollectorRegistry()
    registry.register(
        PgBouncerCollector(
            host=env.str("PGBOUNCER_HOST", "127.0.0.1"),
            port=env.port("PGBOUNCER_PORT", 6432),
            user=env.str("PGBOUNCER_STATS_USER", "hdms_pgbouncer_stats"),
            password=env.secret("PGBOUNCER_STATS_PASSWORD"),
            dbname="pgbouncer",
            connect_timeout=2,
        )
    )
    port = env.port("PGBOUNCER_EXPORTER_PORT", 9127)
    start_http_server(port, addr=env.str("HDMS_METRICS_HOST", "127.0.0.1"), registry=registry)
    print(f"pgbouncer exporter on port {port}", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
