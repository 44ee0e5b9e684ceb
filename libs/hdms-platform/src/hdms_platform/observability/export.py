"""How the instruments are read, through prometheus-client in multiprocess mode.

Each web worker, Celery child and relay writes its samples to files under PROMETHEUS_MULTIPROC_DIR
(the launcher gives every program its own empty directory; compose a tmpfs per container), and an
export merges them with prometheus-client's MultiProcessCollector: counters and histograms of a
worker that died or was replaced stay in the totals, gauges count live processes only. Without the
variable (unit tests, a shell) the metrics live in the one process and the export shows it alone.

Exports: `/metrics` on every service (exporter.py, not routed by the gateway); the Celery workers
and outbox relays, which serve no HTTP, on their own port (`serve`: HDMS_METRICS_PORT).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from hdms_platform.conf.env import env


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


def serve(default_host: str = "127.0.0.1") -> int | None:
    """Start the export of a program that has no HTTP of its own (Celery worker, relay) on
    HDMS_METRICS_PORT (HDMS_METRICS_HOST, default loopback); no port, no export. Returns the port."""
    port = env.int("HDMS_METRICS_PORT", 0, min_value=0, max_value=65535)
    if port:
        start_http_server(port, addr=env.str("HDMS_METRICS_HOST", default_host), registry=registry())
    return port or None
