"""Retention on the running stack: the single beat process sends each service's worker its purges
(RETENTION_INTERVAL_SECONDS is 5 s in make test's stack), and each purge runs as its service's own
database role. Rows made old on purpose disappear. (What each purge keeps, a pending outbox event
above all, is tested in the services' own suites: here a pending row would be published at once.)"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hdms_tools.stack import read_pid

from .conftest import db_connect
from .test_observability import scrape, value
from .test_security import _what_it_holds

LONG_AGO = datetime.now(UTC) - timedelta(days=400)


def _exists(stack_env, service: str, sql: str, key) -> bool:
    with db_connect(stack_env, service) as conn:
        return conn.execute(sql, [key]).fetchone() is not None


def _seed(stack_env) -> dict[str, tuple[str, str, object]]:
    """One old row per purge, through each service's own role: name -> (service, SELECT, key)."""
    ids = {name: uuid.uuid4() for name in ("published", "user", "session", "event", "attachment")}
    with db_connect(stack_env, "ticket") as conn:
        conn.execute(
            "INSERT INTO hdms_outbox (id, type, ticket_id, payload, created_at, published_at, attempts, last_error) "
            "VALUES (%s, 'ticket.updated', %s, '{}', %s, %s, 0, '')",
            [ids["published"], uuid.uuid4(), LONG_AGO, LONG_AGO],
        )
    with db_connect(stack_env, "user") as conn:
        conn.execute(
            "INSERT INTO accounts_user (id, email, password, provider, roles, settings, is_active, date_joined, last_login) "
            "VALUES (%s, %s, '!', 'local', '{customer}', '{}', true, now(), NULL)",
            [ids["user"], f"retention-{ids['user'].hex[:8]}@example.com"],
        )
        conn.execute(
            "INSERT INTO accounts_session (id, user_id, token_hash, family, created_at, expires_at, user_agent) "
            "VALUES (%s, %s, %s, %s, %s, %s, '')",
            [ids["session"], ids["user"], ids["session"].hex * 2, uuid.uuid4(), LONG_AGO, LONG_AGO + timedelta(days=14)],
        )
    with db_connect(stack_env, "communication") as conn:
        conn.execute(
            "INSERT INTO conversations_ticket_event (event_id, ticket_id, type, audience, payload, created_at) "
            "VALUES (%s, %s, 'ticket.updated', 'everyone', '{}', %s)",
            [ids["event"], uuid.uuid4(), LONG_AGO],
        )
    ticket = uuid.uuid4()
    key = f"attachments/{ticket}/{ids['attachment']}"
    stored = Path(stack_env["FILE_STORAGE_DIR"]) / key
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(b"never processed")
    media = Path(stack_env["FILE_STORAGE_DIR"]).stat()  # as file-service would have stored it: its user's
    for path in (stored.parent, stored):
        os.chown(path, media.st_uid, media.st_gid)
    with db_connect(stack_env, "file") as conn:
        conn.execute(
            "INSERT INTO attachments_attachment (id, ticket_id, owner_id, type, filename, storage_key, status, sha256, mime, "
            "size, metadata, rejection_reason, processing_attempts, created_at, updated_at) "
            "VALUES (%s, %s, %s, 'other', 'a.txt', %s, 'pending', '', 'text/plain', 15, '{}', '', 0, %s, %s)",
            [ids["attachment"], ticket, uuid.uuid4(), key, LONG_AGO, LONG_AGO],
        )
    return {
        "published": ("ticket", "SELECT 1 FROM hdms_outbox WHERE id = %s", ids["published"]),
        "session": ("user", "SELECT 1 FROM accounts_session WHERE id = %s", ids["session"]),
        "user": ("user", "SELECT 1 FROM accounts_user WHERE id = %s", ids["user"]),
        "event": ("communication", "SELECT 1 FROM conversations_ticket_event WHERE event_id = %s", ids["event"]),
        "attachment": ("file", "SELECT 1 FROM attachments_attachment WHERE id = %s", ids["attachment"]),
        "bytes": ("", "", stored),
    }


def test_the_beat_schedule_purges_every_service(stack_env):
    rows = _seed(stack_env)
    try:
        purged = {"published", "session", "event", "attachment"}
        deadline = time.monotonic() + 30  # several 5 s rounds
        left = set(purged)
        while left and time.monotonic() < deadline:
            left = {name for name in purged if _exists(stack_env, *rows[name])}
            time.sleep(0.5)
        assert not left, f"not purged within 30 s: {sorted(left)}"
        assert not rows["bytes"][2].exists()  # the abandoned upload's bytes went with its row
        user_worker = scrape(f"http://127.0.0.1:{stack_env['USER_WORKER_METRICS_PORT']}/metrics")
        assert value(user_worker, "hdms_retention_deleted_total", purge="sessions_purge") >= 1
    finally:
        with db_connect(stack_env, "user") as conn:  # the session's owner, made for this test
            conn.execute("DELETE FROM accounts_user WHERE id = %s", [rows["user"][2]])


def test_the_beat_process_holds_the_broker_password_and_no_other_secret(stack_env, run_dir):
    held = _what_it_holds(read_pid(run_dir / "beat.pid"))
    assert stack_env["REDIS_BROKER_PASSWORD"] in held
    others = [
        name
        for name, value in stack_env.items()
        if (name.endswith("_PASSWORD") or name in ("DJANGO_SECRET_KEY",)) and name != "REDIS_BROKER_PASSWORD" and value in held
    ]
    assert others == []
    assert json.dumps(stack_env["JWT_PRIVATE_KEY_FILE"])[1:-1] not in held
