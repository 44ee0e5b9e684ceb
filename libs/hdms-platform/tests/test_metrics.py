"""hdms_platform.observability (instruments, export, middleware): totals over several real processes (prometheus-client's multiprocess
files), a dead process' live gauge dropped and its counts kept, bounded route labels, socket counts."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from hdms_platform.observability import middleware


def _child(directory, code: str) -> subprocess.Popen:
    script = textwrap.dedent(
        f"""
        import os, sys, time
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = {str(directory)!r}
        from hdms_platform.observability import instruments as metrics
        {code}
        """
    )
    return subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, text=True)


def _samples(directory) -> dict:
    script = f"""
import os
os.environ["PROMETHEUS_MULTIPROC_DIR"] = {str(directory)!r}
from prometheus_client import generate_latest
from hdms_platform.observability import export as metrics
print(generate_latest(metrics.registry()).decode())
"""
    text = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in text_string_to_metric_families(text) for s in f.samples}


def test_counts_of_every_process_add_up_and_a_dead_ones_gauge_is_dropped(tmp_path):
    # two "workers": one finishes and exits (as a killed worker would), one stays alive with an open socket
    gone = _child(tmp_path, 'metrics.HTTP_REQUESTS.labels("/a/", "GET", "200").inc(3); metrics.WEBSOCKET_OPEN.inc()')
    assert gone.wait(timeout=30) == 0
    alive = _child(
        tmp_path,
        'metrics.HTTP_REQUESTS.labels("/a/", "GET", "200").inc(4); metrics.WEBSOCKET_OPEN.inc(); print("ready", flush=True); sys.stdin.readline()',
    )
    try:
        deadline_files = list(tmp_path.glob("gauge_livesum_*.db"))
        for _ in range(100):
            if len(deadline_files) == 2:
                break
            asyncio.run(asyncio.sleep(0.05))
            deadline_files = list(tmp_path.glob("gauge_livesum_*.db"))
        samples = _samples(tmp_path)
        assert samples[("hdms_http_requests_total", (("method", "GET"), ("route", "/a/"), ("status", "200")))] == 7
        assert samples[("hdms_websocket_connections_open", ())] == 1  # only the living process' socket
    finally:
        alive.communicate("\n", timeout=30)


def test_routes_are_templates_and_unknown_paths_share_one_label(client):
    def count(route: str) -> float:
        return REGISTRY.get_sample_value("hdms_http_requests_total", {"route": route, "method": "GET", "status": "404"}) or 0

    before = count("<unmatched>")
    for n in range(3):
        assert client.get(f"/no/such/page-{n}/").status_code == 404
    assert count("<unmatched>") == before + 3
    live = {"route": "/health/live", "method": "GET", "status": "200"}
    before = REGISTRY.get_sample_value("hdms_http_requests_total", live) or 0
    client.get("/health/live")
    assert REGISTRY.get_sample_value("hdms_http_requests_total", live) == before + 1


def test_socket_metrics_count_opens_messages_and_closes_by_code():
    async def consumer(scope, receive, send):
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await receive()  # one client message
        await send({"type": "websocket.send", "text": "hello"})
        await send({"type": "websocket.close", "code": 4429})

    inbox = [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": "hi"}]
    seen_open = []

    async def receive():
        return inbox.pop(0)

    async def send(message):
        seen_open.append(REGISTRY.get_sample_value("hdms_websocket_connections_open"))

    def value(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0

    opened = value("hdms_websocket_connections_open")
    closes = value("hdms_websocket_closes_total", code="4429", by="server")
    received = value("hdms_websocket_messages_total", direction="in")
    asyncio.run(middleware.WebSocketMetrics(consumer)({"type": "websocket"}, receive, send))
    assert seen_open[0] == opened + 1  # counted while open
    assert value("hdms_websocket_connections_open") == opened  # and not after
    assert value("hdms_websocket_closes_total", code="4429", by="server") == closes + 1
    assert value("hdms_websocket_messages_total", direction="in") == received + 1
