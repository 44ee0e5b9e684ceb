"""Prometheus metrics of every HDMS process, through prometheus-client in multiprocess mode.

Each web worker, Celery child and relay writes its samples to files under PROMETHEUS_MULTIPROC_DIR
(the launcher gives every program its own empty directory; compose a tmpfs per container), and an
export merges them with prometheus-client's MultiProcessCollector: counters and histograms of a
worker that died or was replaced stay in the totals, gauges count live processes only. Without the
variable (unit tests, a shell) the metrics live in the one process and the export shows it alone.

Exports: `/metrics` on every service (not routed by the gateway); the Celery workers and outbox
relays, which serve no HTTP, on their own port (HDMS_METRICS_PORT, prometheus-client's server).
Labels are bounded: routes are URL templates (never raw paths), tasks and policies are names in
the code, close codes and statuses are small sets. The service and program come from the scrape
target's labels (config/prometheus), not from the metrics.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from django.http import HttpRequest
    from django.http.response import HttpResponseBase

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "hdms_http_requests", "HTTP requests answered, by route template, method and status", ["route", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "hdms_http_request_duration_seconds",
    "Time from the request entering Django to its response, by route template and method",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
DB_QUERIES = Histogram(
    "hdms_db_query_duration_seconds",
    "Database queries (through PgBouncer) and their duration, by connection alias; _count is the query count",
    ["alias"],
    buckets=LATENCY_BUCKETS,
)
DB_ERRORS = Counter("hdms_db_query_errors", "Database queries that raised, by alias and error class", ["alias", "error"])
CACHE_REQUESTS = Counter(
    "hdms_cache_requests", "Cache-aside reads by named cache policy and result (hit, miss)", ["policy", "result"]
)
CACHE_ERRORS = Counter(
    "hdms_cache_errors",
    "Cache errors served from the database instead: ignored (Redis down or slow), unreadable (not our JSON)",
    ["kind"],
)
RATELIMIT_DECISIONS = Counter("hdms_ratelimit_decisions", "Rate-limit decisions by limit and decision", ["limit", "decision"])
WEBSOCKET_OPEN = Gauge(
    "hdms_websocket_connections_open", "WebSocket connections accepted and not yet closed", multiprocess_mode="livesum"
)
WEBSOCKET_MESSAGES = Counter("hdms_websocket_messages", "WebSocket messages by direction (in: client to server)", ["direction"])
WEBSOCKET_CLOSES = Counter("hdms_websocket_closes", "WebSocket closes by code and by whom (server, client)", ["code", "by"])
EVENTS_STORED = Counter("hdms_events_stored", "Ticket events stored by the events worker, by type", ["type"])
EVENTS_OFF_CONTRACT = Counter(
    "hdms_events_off_contract", "Events the events worker received that do not match their type's contract", ["type"]
)
EVENT_FANOUT = Histogram(
    "hdms_event_fanout_seconds",
    "From an event's commit in its source service to its broadcast to the ticket's sockets",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0),
)
EVENT_GAPS = Counter("hdms_event_gaps", "Gaps in a source's event numbers given up on and reported", ["source"])
OUTBOX_PUBLISHED = Counter("hdms_outbox_published", "Outbox events published by the relay")
OUTBOX_RESENT = Counter("hdms_outbox_resent", "Outbox events published again at the events worker's request (a gap)")
EVENT_RESEND_REQUESTS = Counter(
    "hdms_event_resend_requests", "Requests to a source to publish missing event numbers again", ["source"]
)
OUTBOX_FAILURES = Counter("hdms_outbox_publish_failures", "Outbox passes that failed (broker or database unavailable)")
RETENTION_DELETED = Counter("hdms_retention_deleted", "Rows deleted by the retention purges, by purge", ["purge"])
RETENTION_FAILURES = Counter("hdms_retention_failures", "Retention purges that raised, by purge", ["purge"])
TASKS = Counter("hdms_celery_tasks", "Celery tasks finished, by task and state (succeeded, failed, retried)", ["task", "state"])
TASK_DURATION = Histogram(
    "hdms_celery_task_duration_seconds", "Celery task run time, by task", ["task"], buckets=(*LATENCY_BUCKETS, 30.0, 120.0, 300.0)
)


def multiprocess_dir() -> Path | None:
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    return Path(value) if value else None


_LIVE_FILE = re.compile(r"^gauge_live\w*_(\d+)\.db$")


def _forget_dead_processes(directory: Path) -> None:
    """Drop the live gauges of processes that are gone (a killed worker never says goodbye; uvicorn
    has no exit hook to call mark_process_dead from). Their counters stay, as they should."""
    for path in directory.glob("gauge_live*.db"):
        match = _LIVE_FILE.match(path.name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            mark_process_dead(int(match.group(1)), str(directory))  # type: ignore[no-untyped-call]


def registry(*extra: Collector) -> CollectorRegistry:
    """What one export shows: every process of this program, plus collectors evaluated at scrape time."""
    directory = multiprocess_dir()
    if directory is None:
        combined = CollectorRegistry(auto_describe=True)
        combined.register(_Delegate(REGISTRY))
    else:
        _forget_dead_processes(directory)
        combined = CollectorRegistry()
        MultiProcessCollector(combined, str(directory))  # type: ignore[no-untyped-call]
    for collector in extra:
        combined.register(collector)
    return combined


class _Delegate:
    def __init__(self, source: CollectorRegistry):
        self.source = source

    def collect(self) -> Iterable[Metric]:
        return self.source.collect()


class ServiceStateCollector:
    """Read at scrape time, never cached: each readiness check (1 ok, 0 failed) and the lag it
    reports, and for a service with an outbox the pending events and the age of the oldest (the
    relay's lag). A failing read makes its gauge absent, never fails the scrape."""

    def collect(self) -> Iterator[Metric]:
        from django.apps import apps
        from django.conf import settings

        from hdms_platform.health.checks import run_readiness

        ready = GaugeMetricFamily("hdms_readiness_check_ok", "Readiness checks at scrape time (1 ok, 0 failed)", labels=["check"])
        results = run_readiness(list(settings.HDMS_READINESS))
        for name, result in results.items():
            ready.add_metric([name], 1.0 if result["ok"] else 0.0)
        yield ready
        if (lag := results.get("lag", {}).get("lag_seconds")) is not None:
            yield GaugeMetricFamily(
                "hdms_pipeline_lag_seconds",
                "Readiness' lag: the oldest event waiting for the relay (ticket, file) or the events worker (communication)",
                value=lag,
            )
        if apps.is_installed("hdms_platform.outbox"):
            from django.db import DatabaseError

            from hdms_platform.outbox.relay import oldest_pending_age, pending_count

            try:
                pending, age = pending_count(), oldest_pending_age()
            except DatabaseError:
                return
            yield GaugeMetricFamily("hdms_outbox_pending_events", "Outbox events not yet published", value=pending)
            yield GaugeMetricFamily(
                "hdms_outbox_oldest_pending_age_seconds",
                "How long the oldest unpublished event has waited (0: none)",
                value=age or 0.0,
            )


def metrics_view(request: HttpRequest) -> HttpResponseBase:
    """GET /metrics: the Prometheus text format for every worker process of this service."""
    from django.http import HttpResponse

    body = generate_latest(registry(ServiceStateCollector()))
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


def serve(default_host: str = "127.0.0.1") -> int | None:
    """Start the export of a program that has no HTTP of its own (Celery worker, relay) on
    HDMS_METRICS_PORT (HDMS_METRICS_HOST, default loopback); no port, no export. Returns the port."""
    from prometheus_client import start_http_server

    from hdms_platform.conf.env import env

    port = env.int("HDMS_METRICS_PORT", 0, min_value=0, max_value=65535)
    if port:
        start_http_server(port, addr=env.str("HDMS_METRICS_HOST", default_host), registry=registry())
    return port or None


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
    from celery import signals

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
