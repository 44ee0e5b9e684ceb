"""The restore drill: seed, back up, purge, restore — everything is back and the services are ready.

Named test_zz_ so it runs last of the integration suite: it stops every program and replaces the
databases (what a restore does), then starts them again.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from hdms_tools.stack import REPO

from .conftest import PY, db_connect, service_url
from .helpdesk import Helpdesk, png, upload, wait_status

SNAPSHOT = {
    "user": ["SELECT id::text, email FROM accounts_user"],
    "ticket": [
        "SELECT id::text, subject, status FROM tickets_ticket",
        "SELECT id::text, body FROM tickets_comment",
        "SELECT id::text, type FROM hdms_outbox WHERE published_at IS NULL",
    ],
    "communication": ["SELECT id::text, type FROM conversations_ticket_event"],
    "file": ["SELECT id::text, sha256, status FROM attachments_attachment"],
}


def snapshot(stack_env) -> dict[str, list]:
    out = {}
    for service, queries in SNAPSHOT.items():
        with db_connect(stack_env, service) as conn:
            for sql in queries:
                out[sql] = sorted(conn.execute(sql).fetchall())
    return out


def tool(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", *args], cwd=REPO, env=os.environ, capture_output=True, text=True, timeout=timeout)


def all_ready(stack_env) -> bool:
    try:
        return all(httpx.get(f"{service_url(stack_env, s)}/health/ready", timeout=2).status_code == 200 for s in SNAPSHOT)
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def backups():
    path = Path(tempfile.mkdtemp(prefix="hdms-backups-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_backup_purge_restore_brings_everything_back(stack_env, backups):
    desk = Helpdesk(stack_env)
    customer = desk.customer()
    ticket = desk.ticket(customer, "restore drill")
    desk.comment(customer, ticket["id"], "the printer is on fire again")
    content = png()
    attachment = upload(desk, customer, ticket["id"], "drill.png", content, "image/png").json()["id"]
    assert wait_status(desk, customer, attachment, {"ready"})["status"] == "ready"
    # A pending outbox row: the relay is stopped when the ticket is written.
    assert tool("hdms_tools.processes", "stop", "ticket-relay").returncode == 0
    pending_ticket = desk.ticket(customer, "written while the relay was down")
    before = snapshot(stack_env)
    pending = before["SELECT id::text, type FROM hdms_outbox WHERE published_at IS NULL"]
    assert pending, "the drill needs a pending outbox row"

    assert tool("hdms_tools.processes", "stop").returncode == 0
    made = tool("hdms_tools.backup", "create", "--dir", str(backups))
    assert made.returncode == 0, made.stdout + made.stderr
    (backup,) = backups.iterdir()
    manifest = json.loads((backup / "manifest.json").read_text())
    assert set(manifest["databases"]) == {"user", "ticket", "communication", "file"}
    assert manifest["databases"]["ticket"]["migrations"]["tickets"]
    assert manifest["versions"]["postgresql"].startswith("15") and manifest["versions"]["redis"]
    assert all(entry["sha256"] and entry["bytes"] > 0 for entry in manifest["files"].values())

    # Purge: every service database emptied, the media gone.
    for service in SNAPSHOT:
        with db_connect(stack_env, service) as conn:
            tables = [
                r[0]
                for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                if r[0] != "hdms_audit_entry"  # append-only: not even its owner may truncate it
            ]
            conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")
    media = Path(stack_env["FILE_STORAGE_DIR"])
    shutil.rmtree(media)
    assert snapshot(stack_env) != before

    restored = tool("hdms_tools.backup", "restore", str(backup))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert snapshot(stack_env) == before  # every user, ticket, comment, event, attachment and pending row

    # the audit log is append-only again
    with db_connect(stack_env, "ticket") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM hdms_audit_entry")

    started = tool("hdms_tools.processes", "start", timeout=180)
    assert started.returncode == 0, started.stdout + started.stderr
    deadline = time.monotonic() + 30
    while not all_ready(stack_env):
        assert time.monotonic() < deadline, "the services did not become ready on the restored data"
        time.sleep(0.5)
    download = httpx.get(
        f"{service_url(stack_env, 'file')}/api/v1/attachments/{attachment}/download/",
        headers={"Authorization": f"Bearer {customer.token}"},
        timeout=10,
    )
    assert download.status_code == 200 and hashlib.sha256(download.content).digest() == hashlib.sha256(content).digest()
    with db_connect(stack_env, "ticket") as conn:  # the restored relay publishes what was pending
        deadline = time.monotonic() + 20
        while conn.execute("SELECT count(*) FROM hdms_outbox WHERE published_at IS NULL").fetchone()[0]:
            assert time.monotonic() < deadline, "the restored pending outbox rows were not published"
            time.sleep(0.3)
    assert desk.call("ticket", "GET", f"/api/v1/tickets/{pending_ticket['id']}/", customer).status_code == 200


def test_a_damaged_backup_is_refused_naming_the_file_and_restore_refuses_a_running_stack(stack_env, backups):
    (backup,) = backups.iterdir()
    refused = tool("hdms_tools.backup", "restore", str(backup))  # the programs run again
    assert refused.returncode != 0 and "stop the programs first" in refused.stderr
    dump = backup / "hdms_ticket.dump"
    dump.write_bytes(dump.read_bytes()[:-10] + b"0123456789")
    damaged = tool("hdms_tools.backup", "check", str(backup))
    assert damaged.returncode != 0 and "hdms_ticket.dump does not match its checksum" in damaged.stderr
    assert tool("hdms_tools.backup", "check", str(backups / "nope")).stderr.startswith("error: ")


def test_a_backup_is_private_signed_and_holds_only_the_brokers_keys(stack_env, tmp_path):
    """Restore trusts nothing it did not write: every file 0600; the manifest signed with a key
    derived from DJANGO_SECRET_KEY, so a file rewritten with a matching checksum is refused; and
    even a signed backup may not carry keys outside the broker's prefix (restored as the admin)."""
    from hdms_tools import backup as backups_module
    from hdms_tools.stack import Config

    assert tool("hdms_tools.backup", "create", "--dir", str(tmp_path)).returncode == 0
    (backup,) = tmp_path.iterdir()
    loose = {p.name: oct(p.stat().st_mode & 0o777) for p in backup.iterdir() if p.stat().st_mode & 0o077}
    assert not loose, f"readable by others: {loose}"
    manifest_path, broker = backup / "manifest.json", backup / "broker.jsonl"
    planted = {"key": base64.b64encode(b"cache:user:planted").decode(), "ttl": 0, "value": base64.b64encode(b"x").decode()}
    broker.write_text(broker.read_text() + json.dumps(planted) + "\n")
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["broker.jsonl"] = {
        "bytes": broker.stat().st_size,
        "sha256": hashlib.sha256(broker.read_bytes()).hexdigest(),
    }
    manifest_path.write_text(json.dumps(manifest))  # checksums match, the signature does not
    forged = tool("hdms_tools.backup", "check", str(backup))
    assert forged.returncode != 0 and "signature" in forged.stderr and "DJANGO_SECRET_KEY" in forged.stderr, forged.stderr
    manifest_path.write_text(json.dumps(backups_module.sign(manifest, Config.load())))
    outside = tool("hdms_tools.backup", "check", str(backup))
    assert outside.returncode != 0 and "cache:user:planted" in outside.stderr and "broker:" in outside.stderr, outside.stderr
