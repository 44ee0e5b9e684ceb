"""The Prometheus instruments every HDMS process feeds: counters, histograms and gauges, declared once.

Labels are bounded: routes are URL templates (never raw paths), tasks and policies are names in
the code, close codes and statuses are small sets. The service and program come from the scrape
target's labels (config/prometheus), not from the metrics. Where they are fed: middleware.py (HTTP,
queries, sockets, tasks) and the code that counts its own work; how they are read: export.py.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
