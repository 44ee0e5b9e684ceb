"""Observability on the running stack: /metrics of every service summed over its worker processes
(and across a worker's death), the workers' and relays' metrics ports, socket metrics, a real
Prometheus scraping every target and answering the cache hit ratio, and one request id followed
through the access logs of two services and a Celery task."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hdms_tools.stack import REPO, read_pid

from .conftest import manage, service_url
from .helpdesk import Helpdesk, close_code, png, upload, wait_status

PY = sys.executable
SERVICES = ("user", "ticket", "communication", "file")
BACKGROUND_PORTS = {
    "worker": "WORKER_METRICS_PORT",
    "events": "EVENTS_METRICS_PORT",
    "ticket-relay": "TICKET_RELAY_METRICS_PORT",
    "file-relay": "FILE_RELAY_METRICS_PORT",
    "user-worker": "USER_WORKER_METRICS_PORT",
    "ticket-worker": "TICKET_WORKER_METRICS_PORT",
}


@pytest.fixture(scope="module")
def desk(stack_env) -> Helpdesk:
    assert manage("user", "seed_dev_data").returncode == 0
    return Helpdesk(stack_env)


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_every_service_exports_its_requests_summed_over_all_its_worker_processes(stack_env):
    for service in SERVICES:
        base = service_url(stack_env, service)
        before = scrape(f"{base}/metrics")
        for _ in range(12):  # more than one worker process answers these (HDMS_WEB_WORKERS=2)
            assert httpx.get(f"{base}/api/v1/audit/{service}/", timeout=5).status_code == 401
        after = scrape(f"{base}/metrics")
        labels = {"route": f"/api/v1/audit/{service}/", "method": "GET", "status": "401"}
        assert value(after, "hdms_http_requests_total", **labels) - value(before, "hdms_http_requests_total", **labels) == 12
        count = {"route": f"/api/v1/audit/{service}/", "method": "GET"}
        assert (
            value(after, "hdms_http_request_duration_seconds_count", **count)
            - value(before, "hdms_http_request_duration_seconds_count", **count)
            == 12
        )
        assert value(after, "hdms_readiness_check_ok", check="database") == 1
        if service != "user":  # a service with a background pipeline exports its lag (alert HdmsEventsLag)
            assert ("hdms_pipeline_lag_seconds", frozenset()) in after
        # a scanner's paths do not become labels
        assert httpx.get(f"{base}/wp-admin/{uuid.uuid4().hex}", timeout=5).status_code == 404
        routes = {dict(key)["route"] for name, key in scrape(f"{base}/metrics") if name == "hdms_http_requests_total"}
        assert "<unmatched>" in routes and not any("wp-admin" in route for route in routes)


def _workers_of(master: int) -> set[int]:
    workers = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master and fields[0] != "Z":
            workers.add(int(stat.parent.name))
    return workers


def test_a_killed_worker_process_loses_none_of_the_counts(stack_env, run_dir):
    base = service_url(stack_env, "ticket")
    labels = {"route": "/api/v1/tickets/<uuid:ticket_id>/", "method": "GET", "status": "401"}
    for _ in range(20):
        httpx.get(f"{base}/api/v1/tickets/{uuid.uuid4()}/", timeout=5)
    before = value(scrape(f"{base}/metrics"), "hdms_http_requests_total", **labels)
    master = read_pid(run_dir / "ticket.pid")
    workers = _workers_of(master)
    victim = sorted(workers)[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (victim in _workers_of(master) or len(_workers_of(master)) < len(workers)):
        time.sleep(0.2)
    assert victim not in _workers_of(master) and len(_workers_of(master)) == len(workers), "gunicorn did not replace the worker"
    for _ in range(5):
        httpx.get(f"{base}/api/v1/tickets/{uuid.uuid4()}/", timeout=5)
    assert value(scrape(f"{base}/metrics"), "hdms_http_requests_total", **labels) == before + 5


def test_the_gateway_does_not_expose_metrics(stack_env):
    gateway = f"http://127.0.0.1:{stack_env['GATEWAY_PORT']}"
    for path in ("/metrics", "/ticket/metrics", "/user/metrics", "/api/v1/tickets/../../metrics"):
        response = httpx.get(gateway + path, timeout=5)
        assert response.status_code == 404 and "hdms_" not in response.text, path


@pytest.mark.asyncio
async def test_workers_relays_and_sockets_export_their_own_metrics(desk, stack_env):
    customer = desk.customer()
    ticket = desk.ticket(customer)
    comm = f"{service_url(stack_env, 'communication')}/metrics"
    before = scrape(comm)
    async with desk.socket(customer, ticket["id"]) as ws:
        assert value(scrape(comm), "hdms_websocket_connections_open") == value(before, "hdms_websocket_connections_open") + 1
        await ws.send(json.dumps({"type": "presence", "state": "viewing"}))
        await ws.recv()  # the presence broadcast
    refused = await close_code(desk.socket(customer, str(uuid.uuid4())))  # a ticket that is not theirs
    assert refused == 4403
    after = scrape(comm)
    assert value(after, "hdms_websocket_connections_open") == value(before, "hdms_websocket_connections_open")
    assert value(after, "hdms_websocket_messages_total", direction="in") > value(
        before, "hdms_websocket_messages_total", direction="in"
    )
    assert value(after, "hdms_websocket_closes_total", code="4403", by="server") == (
        value(before, "hdms_websocket_closes_total", code="4403", by="server") + 1
    )

    created = upload(desk, customer, ticket["id"], "shot.png", png(), "image/png")
    assert created.status_code == 201, created.text
    wait_status(desk, customer, created.json()["id"], {"ready"})
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        background = {name: scrape(f"http://127.0.0.1:{stack_env[var]}/metrics") for name, var in BACKGROUND_PORTS.items()}
        if value(background["events"], "hdms_events_stored_total", type="attachment.ready") >= 1:
            break
        time.sleep(0.3)
    task = "hdms.file.process_attachment"
    assert value(background["worker"], "hdms_celery_tasks_total", task=task, state="succeeded") >= 1
    assert value(background["worker"], "hdms_celery_task_duration_seconds_count", task=task) >= 1
    assert value(background["events"], "hdms_events_stored_total", type="attachment.ready") >= 1
    assert value(background["events"], "hdms_event_fanout_seconds_count") >= 1
    assert value(background["file-relay"], "hdms_outbox_published_total") >= 2  # uploaded (internal) and ready
    assert value(background["ticket-relay"], "hdms_outbox_published_total") >= 1  # ticket.created
    ticket_metrics = scrape(f"{service_url(stack_env, 'ticket')}/metrics")
    assert value(ticket_metrics, "hdms_db_query_duration_seconds_count", alias="default") > 0
    assert ("hdms_outbox_pending_events", frozenset()) in ticket_metrics


def _json_lines(path: Path) -> list[dict]:
    lines = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # gunicorn's, uvicorn's and Celery's own start-up lines are not ours
        if isinstance(record, dict):
            lines.append(record)
    return lines


def test_one_request_id_is_found_in_two_services_and_a_task(desk, stack_env):
    customer = desk.customer()
    ticket = desk.ticket(customer)
    request_id = f"trace-{uuid.uuid4().hex}"
    response = httpx.post(
        f"{service_url(stack_env, 'file')}/api/v1/attachments/",
        headers={"Authorization": f"Bearer {customer.token}", "X-Request-ID": request_id},
        data={"ticket_id": ticket["id"]},
        files={"file": ("trace.png", png(), "image/png")},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    assert response.headers["x-request-id"] == request_id
    wait_status(desk, customer, response.json()["id"], {"ready"})
    logs = Path(stack_env["HDMS_DATA_DIR"]) / "log"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = {
            name: [r for r in _json_lines(logs / f"{name}.log") if r.get("request_id") == request_id]
            for name in ("file", "ticket", "worker", "events")
        }
        if all(found.values()):
            break
        time.sleep(0.3)
    upload_line = next(r for r in found["file"] if r.get("logger") == "hdms.access")
    assert upload_line["method"] == "POST" and upload_line["route"] == "/api/v1/attachments/" and upload_line["status"] == 201
    assert upload_line["user_id"] == customer.user_id and upload_line["duration_ms"] > 0 and upload_line["ts"]
    access_check = next(r for r in found["ticket"] if r.get("logger") == "hdms.access")
    assert access_check["route"] == "/api/v1/tickets/<uuid:ticket_id>/" and access_check["status"] == 200
    task = next(r for r in found["worker"] if r.get("logger") == "hdms.access")
    assert task["task"] == "hdms.file.process_attachment" and task["state"] == "SUCCESS"
    assert any(r.get("task") == "hdms.communication.ingest_event" for r in found["events"])  # its attachment.ready event
    everything = "".join(
        (logs / f"{name}.log").read_text(errors="replace") for name in ("user", "ticket", "file", "communication")
    )
    assert customer.token not in everything and "e2e-correct-horse-42" not in everything  # never a token or a password


@pytest.fixture(scope="module")
def prometheus(stack_env):
    """Prometheus and the exporters (`make observe`) on the private stack, stopped afterwards."""
    programs = ["pgbouncer-exporter", "redis-exporter", "prometheus"]
    started = subprocess.run(
        [PY, "-m", "hdms_tools.processes", "start", *programs], cwd=REPO, capture_output=True, text=True, timeout=90
    )
    assert started.returncode == 0, started.stdout + started.stderr
    yield f"http://127.0.0.1:{stack_env['PROMETHEUS_PORT']}"
    subprocess.run([PY, "-m", "hdms_tools.processes", "stop", *programs], cwd=REPO, capture_output=True, timeout=60)


def query(prometheus: str, promql: str) -> list[dict]:
    body = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=10).json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def test_prometheus_scrapes_every_target_and_answers_the_cache_hit_ratio(prometheus, desk, stack_env):
    agent = desk.agent()
    ticket = desk.ticket(desk.customer())
    expected = {
        *(("hdms", s) for s in SERVICES),
        *(("hdms-background", n) for n in BACKGROUND_PORTS),
        ("pgbouncer", "exporter"),
        ("redis", "exporter"),
        ("prometheus", "prometheus"),
    }
    ratio, states = [], {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for _ in range(5):  # a miss, then hits
            assert desk.call("ticket", "GET", f"/api/v1/tickets/{ticket['id']}/", agent).status_code == 200
        targets = httpx.get(f"{prometheus}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
        states = {
            (t["labels"]["job"], t["labels"]["program"] if t["labels"]["job"] != "hdms" else t["labels"]["service"]): t["health"]
            for t in targets
        }
        ratio = query(prometheus, 'hdms:cache_hit_ratio:rate5m{service="ticket", policy="ticket_detail"}')
        # The recording rule answers NaN (0/0) until two scrapes have seen the counters move.
        if set(states) == expected and set(states.values()) == {"up"} and ratio and ratio[0]["value"][1] != "NaN":
            break
        time.sleep(1)
    assert set(states) == expected and set(states.values()) == {"up"}, states
    assert ratio and 0 < float(ratio[0]["value"][1]) <= 1, ratio
    assert query(prometheus, "pgbouncer_up") and query(prometheus, "redis_up")[0]["value"][1] == "1"
    assert query(prometheus, 'sum(pgbouncer_pools_client_active_connections{database="hdms_ticket"}) >= 0')
    assert query(prometheus, "redis_db_keys") and query(prometheus, "redis_evicted_keys_total")
    _traffic(desk, agent, ticket["id"], seconds=20)
    _graph(prometheus)


def _traffic(desk: Helpdesk, agent, ticket_id: str, *, seconds: float) -> None:
    """A little helpdesk: reads of the ticket and the list, the profile, comments now and then."""
    deadline, n = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        n += 1
        desk.call("ticket", "GET", f"/api/v1/tickets/{ticket_id}/", agent)
        desk.call("ticket", "GET", "/api/v1/tickets/", agent)
        desk.call("user", "GET", "/api/v1/users/me/", agent)
        desk.call("file", "GET", f"/api/v1/attachments/?ticket_id={ticket_id}", agent)
        if n % 10 == 0:
            desk.comment(agent, ticket_id, f"update {n}")


def _graph(prometheus: str) -> None:
    """The PNG docs/operations.md shows, from Prometheus' own answers: request rate and p99 latency
    by service, and the ticket detail's cache hit ratio, over the last minute and a half."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    end = time.time()
    panels = [
        ("requests / s", 'sum by (service) (rate(hdms_http_requests_total{route!~"/metrics|/health/.*"}[5s]))'),
        (
            "p99 latency (s)",
            'histogram_quantile(0.99, sum by (service, le) (rate(hdms_http_request_duration_seconds_bucket{route!~"/metrics|/health/.*"}[5s])))',
        ),
        (
            "cache hit ratio",
            'sum by (service, policy) (rate(hdms_cache_requests_total{result="hit"}[5s])) / sum by (service, policy) (rate(hdms_cache_requests_total[5s]))',
        ),
    ]
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 7.5), sharex=True)
    for ax, (ylabel, promql) in zip(axes, panels, strict=True):
        params = {"query": promql, "start": end - 60, "end": end, "step": 1}
        body = httpx.get(f"{prometheus}/api/v1/query_range", params=params, timeout=10).json()
        assert body["status"] == "success" and body["data"]["result"], (promql, body)
        for series in body["data"]["result"]:
            points = [(float(t) - end, float(v)) for t, v in series["values"] if v not in ("NaN", "+Inf")]
            label = "/".join(series["metric"].get(k, "") for k in ("service", "policy") if k in series["metric"])
            ax.plot([t for t, _ in points], [v for _, v in points], label=label)
        ax.set_ylabel(ylabel)
        ax.set_title(promql, fontsize=7)
        ax.legend(fontsize=7, loc="upper left")
    axes[-1].set_xlabel("seconds ago")
    fig.tight_layout()
    out = REPO / "test-artifacts"
    out.mkdir(exist_ok=True)
    fig.savefig(out / "prometheus-graph.png", dpi=100)
    plt.close(fig)
