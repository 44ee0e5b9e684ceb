"""A service's `/metrics`: every worker process' instruments, plus what is read at scrape time
(readiness, the outbox's backlog). Only the URL table imports it: it reads health and the outbox."""

from __future__ import annotations

from collections.abc import Iterator

from django.apps import apps
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from hdms_platform.health.checks import run_readiness
from hdms_platform.observability.export import registry


class ServiceStateCollector:
    """Read at scrape time, never cached: each readiness check (1 ok, 0 failed) and the lag it
    reports, and for a service with an outbox the pending events and the age of the oldest (the
    relay's lag). A failing read makes its gauge absent, never fails the scrape."""

    def collect(self) -> Iterator[Metric]:
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
            from hdms_platform.outbox.relay import oldest_pending_age, pending_count  # installed apps only

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


def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics: the Prometheus text format for every worker process of this service."""
    body = generate_latest(registry(ServiceStateCollector()))
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
