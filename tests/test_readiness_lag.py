"""Lag is visible: readiness says `degraded` (still 200, the service stays in rotation) while the
relay's outbox or the events worker's queue holds an event older than READINESS_LAG_SECONDS (60),
and `ok` again once the pipeline has caught up. Real programs stopped and started by the launcher."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from hdms_tools.stack import REPO

from .conftest import PY, db_connect, service_url


def _processes(*args: str) -> None:
    result = subprocess.run([PY, "-m", "hdms_tools.processes", *args], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _ready(stack_env, service: str) -> dict:
    """Readiness, which lag never fails: 200, or a 503 that names another dependency (this test
    runs right after the readiness fault tests restarted PgBouncer and Redis)."""
    response = httpx.get(f"{service_url(stack_env, service)}/health/ready", timeout=5)
    body = response.json()
    assert response.status_code == 200 or "lag" not in body["failed"], response.text
    return body


def _until(stack_env, service: str, status: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while (body := _ready(stack_env, service))["status"] != status and time.monotonic() < deadline:
        time.sleep(0.3)
    assert body["status"] == status, body
    return body


CHANGED = {"changes": {}, "actor_id": str(uuid.uuid4()), "status": "open", "updated_at": "2026-01-01T00:00:00+00:00"}


def test_a_lagging_relay_then_a_lagging_events_worker_degrade_readiness_until_they_catch_up(stack_env):
    _processes("stop", "ticket-relay", "events")
    try:
        occurred = datetime.now(UTC) - timedelta(seconds=120)  # an event two minutes late already
        event_id, ticket_id = uuid.uuid4(), uuid.uuid4()
        payload = {"id": str(event_id), "type": "ticket.updated", "ticket_id": str(ticket_id), "audience": "everyone"}
        with db_connect(stack_env, "ticket") as conn:
            conn.execute(
                "INSERT INTO hdms_outbox (id, type, ticket_id, payload, created_at, attempts, last_error) "
                "VALUES (%s, 'ticket.updated', %s, %s, %s, 0, '')",
                [event_id, ticket_id, json.dumps({**payload, "occurred_at": occurred.isoformat(), "data": CHANGED}), occurred],
            )
        lagging = _until(stack_env, "ticket", "degraded")["checks"]["lag"]
        assert lagging["degraded"] and lagging["lag_seconds"] >= 120 and lagging["pending"] >= 1
        _until(stack_env, "communication", "ok")  # the event is not its lag yet

        _processes("start", "ticket-relay")  # published: the event now waits in the events worker's queue
        _until(stack_env, "ticket", "ok")
        waiting = _until(stack_env, "communication", "degraded")["checks"]["lag"]
        assert waiting["lag_seconds"] >= 120 and waiting["queued"] >= 1

        _processes("start", "events")
        # ok once the late event is consumed; `queued` counts every message of the queue, and the
        # retention purges beat sent every 5 s while the worker was stopped may still be draining
        _until(stack_env, "communication", "ok")
        with db_connect(stack_env, "communication") as conn:
            assert conn.execute("SELECT 1 FROM conversations_ticket_event WHERE event_id = %s", [event_id]).fetchone()
    finally:
        _processes("start", "ticket-relay", "events")
