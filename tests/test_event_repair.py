"""A message the broker loses is repaired from its source's outbox, not reported as a gap.

kombu's Redis transport can lose a message in a small window (taken off the queue by BRPOP, the
connection gone before it is recorded as unacknowledged). The events worker notices the missing
number, asks the source to publish it again, and stores everything in order. Here the loss is made
on purpose: with the events worker stopped, one comment's message is deleted from the real queue.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time

import redis

from hdms_platform.celery.app import INGEST_EVENT_TASK
from hdms_platform.conf.catalogue import REDIS_KEY_PREFIX, task_queue
from hdms_tools.stack import REPO

from .conftest import PY, db_connect
from .helpdesk import Helpdesk


def _processes(*args: str) -> None:
    result = subprocess.run([PY, "-m", "hdms_tools.processes", *args], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _event(message: bytes) -> dict:
    """The event an ingest message carries ({} for the queue's other tasks)."""
    message = json.loads(message)
    if message["headers"]["task"] != INGEST_EVENT_TASK:
        return {}
    return json.loads(base64.b64decode(message["body"]))[0][0]


def _comment_id(message: bytes) -> str | None:
    return _event(message).get("data", {}).get("comment", {}).get("id")


def _stored(stack_env, ticket_id: str) -> list[tuple[str, int]]:
    with db_connect(stack_env, "communication") as conn:
        rows = conn.execute(
            "SELECT type, (payload->>'source_seq')::bigint FROM conversations_ticket_event WHERE ticket_id = %s ORDER BY id",
            [ticket_id],
        ).fetchall()
    return [(t, s) for t, s in rows]


def test_a_lost_event_message_is_sent_again_by_its_source_and_stored_in_order(stack_env):
    desk = Helpdesk(stack_env)
    customer = desk.customer()
    ticket = desk.ticket(customer)["id"]
    broker = redis.Redis(
        host=stack_env["REDIS_HOST"], port=int(stack_env["REDIS_PORT"]), db=2,
        username="hdms-broker", password=stack_env["REDIS_BROKER_PASSWORD"],
    )  # fmt: skip
    name = REDIS_KEY_PREFIX["broker"] + task_queue("communication")
    _processes("stop", "events")
    try:
        comments = [desk.comment(customer, ticket, f"part {n}")["id"] for n in range(3)]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the relay publishes them to the stopped worker's queue
            queued = broker.lrange(name, 0, -1)
            if {_comment_id(m) for m in queued} >= set(comments):
                break
            time.sleep(0.2)
        lost = next(m for m in queued if _comment_id(m) == comments[1])
        assert broker.lrem(name, 1, lost) == 1  # the broker lost the middle comment's event
        lost_seq = _event(lost)["source_seq"]
    finally:
        _processes("start", "events")

    deadline = time.monotonic() + 45  # parked, then asked for again after EVENT_RESEND_AFTER_SECONDS (10)
    while lost_seq not in [s for _, s in _stored(stack_env, ticket)] and time.monotonic() < deadline:
        time.sleep(0.5)
    stored = _stored(stack_env, ticket)
    assert [t for t, _ in stored].count("comment.added") == 3, stored
    numbers = [s for _, s in stored]
    assert numbers == sorted(numbers) and lost_seq in numbers, stored  # stored in the source's order
    with db_connect(stack_env, "communication") as conn:
        gap = "SELECT 1 FROM conversations_event_gap WHERE source = 'ticket' AND %s BETWEEN first_missing AND last_missing"
        assert not conn.execute(gap, [lost_seq]).fetchone()  # repaired, not reported
        assert not conn.execute("SELECT 1 FROM conversations_parked_event WHERE payload->>'ticket_id' = %s", [ticket]).fetchone()
