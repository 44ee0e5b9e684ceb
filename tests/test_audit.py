"""The audit log over real HTTP and WebSockets: each recorded action, the admin-only API, the
cross-service view of one person, append-only PostgreSQL privileges and the audited purge."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from websockets.asyncio.client import connect

from hdms_platform.testing.seed import DEV_PASSWORD, USERS

from .conftest import db_connect, manage
from .helpdesk import PASSWORD, Helpdesk, close_code, png, upload, wait_status


@pytest.fixture(scope="module")
def desk(stack_env) -> Helpdesk:
    assert manage("user", "seed_dev_data").returncode == 0
    return Helpdesk(stack_env)


@pytest.fixture(scope="module")
def admin(desk):
    return desk.login(USERS["admin"][1], DEV_PASSWORD)


def entries(desk, admin, service: str, **filters) -> list[dict]:
    response = desk.call(service, "GET", f"/api/v1/audit/{service}/", admin, params={"page_size": 100, **filters})
    assert response.status_code == 200, response.text
    return response.json()["results"]


def one(desk, admin, service: str, **filters) -> dict:
    found = entries(desk, admin, service, **filters)
    assert len(found) == 1, found
    return found[0]


def test_sign_ins_are_recorded_with_reason_address_and_request_id(desk, admin):
    customer = desk.customer()
    url = f"{desk.urls['user']}/api/v1/auth/login/"
    request_id = f"audit-{uuid.uuid4().hex[:12]}"
    httpx.post(url, json={"email": customer.email, "password": "wrong-password-1"}, headers={"X-Request-ID": request_id})
    failed = one(desk, admin, "user", action="auth.login", actor=customer.user_id, outcome="failure")
    assert failed["details"]["reason"] == "bad password" and failed["request_id"] == request_id
    assert failed["client_address"] == "127.0.0.1" and "password" not in str(failed["details"]).replace("bad password", "")
    ghost = f"ghost-{uuid.uuid4().hex[:8]}@example.com"
    httpx.post(url, json={"email": ghost, "password": "wrong-password-1"})
    unknown = entries(desk, admin, "user", action="auth.login", outcome="failure")
    assert any(e["details"].get("email") == ghost and e["details"]["reason"] == "unknown email" for e in unknown)
    succeeded = entries(desk, admin, "user", action="auth.login", actor=customer.user_id, outcome="success")
    assert len(succeeded) == 1  # desk.customer() signed in once


def test_a_limited_sign_in_is_recorded_as_denied(desk, admin, stack_env):
    customer = desk.customer()
    for i in range(int(stack_env.get("LOGIN_MAX_FAILURES_PER_ACCOUNT", 5)) + 1):
        httpx.post(f"{desk.urls['user']}/api/v1/auth/login/", json={"email": customer.email, "password": f"wrong-{i}-pw"})
    denied = entries(desk, admin, "user", action="auth.login", outcome="denied")
    assert any(e["details"].get("email") == customer.email and "limited" in e["details"]["reason"] for e in denied)


def test_registration_refresh_reuse_logout_roles_and_settings_are_recorded(desk, admin):
    customer = desk.customer()
    assert one(desk, admin, "user", action="user.registered", actor=customer.user_id)["outcome"] == "success"
    again = desk.call("user", "POST", "/api/v1/auth/register/", json={"email": customer.email, "password": PASSWORD})
    assert again.status_code == 202
    exists = entries(desk, admin, "user", action="user.registered", target_id=customer.user_id, outcome="failure")
    assert exists[0]["details"] == {"reason": "exists"}

    tokens = httpx.post(f"{desk.urls['user']}/api/v1/auth/login/", json={"email": customer.email, "password": PASSWORD}).json()
    rotated = httpx.post(f"{desk.urls['user']}/api/v1/auth/refresh/", json={"refresh": tokens["refresh"]}).json()
    httpx.post(f"{desk.urls['user']}/api/v1/auth/refresh/", json={"refresh": tokens["refresh"]})  # reuse: a stolen copy
    reuse = one(desk, admin, "user", action="auth.refresh_reused", actor=customer.user_id)
    assert reuse["outcome"] == "denied" and reuse["details"]["family_revoked"] is True

    fresh = httpx.post(f"{desk.urls['user']}/api/v1/auth/login/", json={"email": customer.email, "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {fresh['access']}"}
    assert (
        httpx.post(f"{desk.urls['user']}/api/v1/auth/logout/", json={"refresh": fresh["refresh"]}, headers=headers).status_code
        == 204
    )
    assert one(desk, admin, "user", action="auth.logout", actor=customer.user_id)["details"]["sessions_revoked"] == 1
    dead = httpx.post(f"{desk.urls['user']}/api/v1/auth/refresh/", json={"refresh": rotated["refresh"]})
    assert dead.status_code == 401  # the reuse revoked the whole family, the rotated token too

    desk.call("user", "PATCH", "/api/v1/users/me/", customer, json={"settings": {"theme": "dark", "lang": "en"}})
    assert one(desk, admin, "user", action="user.settings_changed", actor=customer.user_id)["details"] == {
        "keys": ["lang", "theme"]
    }

    desk.call("user", "PUT", f"/api/v1/users/{customer.user_id}/roles/", admin, json={"roles": ["agent"]})
    change = one(desk, admin, "user", action="user.roles_changed", target_id=customer.user_id)
    assert change["actor_id"] == admin.user_id and change["details"] == {"old": ["customer"], "new": ["agent"]}


def test_assignment_transitions_and_internal_notes_are_recorded(desk, admin):
    customer, agent = desk.customer(), desk.agent()
    ticket = desk.ticket(customer)
    desk.call("ticket", "POST", f"/api/v1/tickets/{ticket['id']}/assign/", agent, json={"assignee_id": agent.user_id})
    desk.call("ticket", "POST", f"/api/v1/tickets/{ticket['id']}/transition/", agent, json={"status": "pending"})
    note = desk.comment(agent, ticket["id"], "internal: check the logs", internal=True)
    desk.comment(customer, ticket["id"], "a public reply")  # not an audited action
    assigned = one(desk, admin, "ticket", action="ticket.assigned", target_id=ticket["id"])
    assert assigned["actor_id"] == agent.user_id and assigned["details"] == {"old": "", "new": agent.user_id}
    moved = one(desk, admin, "ticket", action="ticket.status_changed", target_id=ticket["id"])
    assert moved["details"] == {"old": "open", "new": "pending"}
    assert one(desk, admin, "ticket", action="comment.internal_created", target_id=note["id"])["actor_id"] == agent.user_id
    assert len(entries(desk, admin, "ticket", action="comment.")) >= 1
    assert all(e["action"] != "comment.created" for e in entries(desk, admin, "ticket", actor=customer.user_id))


def test_uploads_downloads_refusals_and_rejections_are_recorded(desk, admin):
    customer = desk.customer()
    ticket = desk.ticket(customer)
    created = upload(desk, customer, ticket["id"], "shot.png", png(), "image/png").json()
    wait_status(desk, customer, created["id"], {"ready"})
    desk.call("file", "GET", f"/api/v1/attachments/{created['id']}/download/", customer)
    refused = upload(desk, customer, ticket["id"], "page.html", b"<html><script>x</script></html>", "text/html")
    broken = upload(desk, customer, ticket["id"], "broken.png", png()[:200], "image/png").json()  # truncated image
    wait_status(desk, customer, broken["id"], {"rejected"})
    assert one(desk, admin, "file", action="attachment.uploaded", target_id=created["id"])["actor_id"] == customer.user_id
    assert one(desk, admin, "file", action="attachment.downloaded", target_id=created["id"])["details"] == {"part": "file"}
    assert refused.status_code == 415
    refusal = one(desk, admin, "file", action="attachment.refused", actor=customer.user_id)
    assert refusal["outcome"] == "denied" and refusal["details"]["reason"] == "type text/html"
    rejection = one(desk, admin, "file", action="attachment.rejected", target_id=broken["id"])
    assert rejection["outcome"] == "failure" and rejection["actor_id"] is None and rejection["details"]["reason"]


@pytest.mark.asyncio
async def test_refused_sockets_are_recorded(desk, admin):
    owner, stranger = desk.customer(), desk.customer()
    ticket = desk.ticket(owner)
    assert await close_code(desk.socket(stranger, ticket["id"])) == 4403
    await asyncio.sleep(0.2)
    denied = one(desk, admin, "communication", action="socket.denied", actor=stranger.user_id)
    assert denied["details"] == {"close_code": 4403} and denied["target_id"] == ticket["id"]


def test_a_caller_cannot_choose_the_address_recorded_for_it(desk, admin, stack_env):
    """X-Forwarded-For counts only from the gateway's own address: a caller that reaches a service's
    port directly is recorded as itself, whatever header it sends; through the gateway the address
    the gateway saw is recorded, not what the client wrote left of it."""
    customer = desk.customer()
    spoofed = {"X-Forwarded-For": "198.51.100.77"}
    for base in (desk.urls["user"], f"http://127.0.0.1:{stack_env['GATEWAY_PORT']}"):
        response = httpx.post(
            f"{base}/api/v1/auth/login/", json={"email": customer.email, "password": "wrong-password-1"}, headers=spoofed
        )
        assert response.status_code == 401, response.text
    failed = entries(desk, admin, "user", action="auth.login", actor=customer.user_id, outcome="failure")
    assert [entry["client_address"] for entry in failed] == ["127.0.0.1", "127.0.0.1"], failed


@pytest.mark.asyncio
async def test_a_refused_socket_is_recorded_with_the_callers_own_address(desk, admin, stack_env):
    owner, stranger = desk.customer(), desk.customer()
    ticket = desk.ticket(owner)
    spoofed = {"X-Forwarded-For": "198.51.100.78"}
    for base in (desk.ws, f"ws://127.0.0.1:{stack_env['GATEWAY_PORT']}"):
        socket = connect(
            f"{base}/ws/tickets/{ticket['id']}/",
            subprotocols=["hdms", f"access_token.{stranger.token}"],
            additional_headers=spoofed,
            open_timeout=5,
        )
        assert await close_code(socket) == 4403
    await asyncio.sleep(0.2)
    denied = entries(desk, admin, "communication", action="socket.denied", actor=stranger.user_id)
    assert [entry["client_address"] for entry in denied] == ["127.0.0.1", "127.0.0.1"], denied


def test_only_admins_read_the_audit_log(desk, admin):
    customer, agent = desk.customer(), desk.agent()
    for service in ("user", "ticket", "communication", "file"):
        anonymous = desk.call(service, "GET", f"/api/v1/audit/{service}/")
        assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "not_authenticated"
        for who in (customer, agent):
            refused = desk.call(service, "GET", f"/api/v1/audit/{service}/", who)
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
        assert desk.call(service, "GET", f"/api/v1/audit/{service}/", admin).status_code == 200
    bad = desk.call("user", "GET", "/api/v1/audit/user/", admin, params={"actor": "not-a-uuid", "outcome": "maybe"})
    assert bad.status_code == 400 and set(bad.json()["error"]["fields"]) == {"actor", "outcome"}
    stranger = desk.call("user", "GET", f"/api/v1/users/{customer.user_id}/security-events/", agent)
    assert stranger.status_code == 403


def test_an_admin_sees_one_persons_events_across_services(desk, admin):
    customer, agent = desk.customer(), desk.agent()
    ticket = desk.ticket(customer)
    created = upload(desk, customer, ticket["id"], "a.txt", b"plain words\n", "text/plain").json()
    wait_status(desk, customer, created["id"], {"ready"})
    desk.call("file", "GET", f"/api/v1/attachments/{created['id']}/download/", customer)
    desk.call("ticket", "POST", f"/api/v1/tickets/{ticket['id']}/transition/", agent, json={"status": "resolved"})
    desk.call("ticket", "POST", f"/api/v1/tickets/{ticket['id']}/transition/", customer, json={"status": "closed"})
    view = desk.call("user", "GET", f"/api/v1/users/{customer.user_id}/security-events/", admin).json()
    seen = {(e["service"], e["action"]) for e in view["events"]}
    assert {
        ("user", "auth.login"),
        ("user", "user.registered"),
        ("file", "attachment.uploaded"),
        ("file", "attachment.downloaded"),
    } <= seen
    assert ("ticket", "ticket.status_changed") in seen and view["unavailable"] == []
    times = [e["occurred_at"] for e in view["events"]]
    assert times == sorted(times, reverse=True)


def _as_service(stack_env, service: str):
    return db_connect(stack_env, service, autocommit=True)


@pytest.mark.parametrize("service", ["user", "ticket", "communication", "file"])
def test_the_services_own_role_can_append_and_read_but_never_rewrite(stack_env, service):
    with _as_service(stack_env, service) as conn:
        row = conn.execute(
            "INSERT INTO hdms_audit_entry (action, outcome) VALUES ('test.append', 'success') RETURNING id"
        ).fetchone()
        assert conn.execute("SELECT action FROM hdms_audit_entry WHERE id = %s", row).fetchone() == ("test.append",)
        for statement in (
            "UPDATE hdms_audit_entry SET action = 'rewritten' WHERE id = %s",
            "DELETE FROM hdms_audit_entry WHERE id = %s",
            "TRUNCATE hdms_audit_entry",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement, row if "%s" in statement else None)
        assert conn.execute("SELECT action FROM hdms_audit_entry WHERE id = %s", row).fetchone() == ("test.append",)


def test_the_purge_deletes_only_old_entries_in_batches_and_is_itself_audited(stack_env, desk, admin):
    marker = f"test.old.{uuid.uuid4().hex[:8]}"
    old = datetime.now(UTC) - timedelta(days=400)
    with _as_service(stack_env, "ticket") as conn:
        for _ in range(3):
            conn.execute("INSERT INTO hdms_audit_entry (occurred_at, action, outcome) VALUES (%s, %s, 'success')", (old, marker))
        conn.execute("INSERT INTO hdms_audit_entry (action, outcome) VALUES (%s, 'success')", (marker + ".new",))
    started = time.time()
    result = manage("ticket", "audit_purge", "--batch", "2", extra_env={"AUDIT_RETENTION_DAYS": "365"})
    assert result.returncode == 0, result.stderr
    with _as_service(stack_env, "ticket") as conn:
        assert conn.execute("SELECT count(*) FROM hdms_audit_entry WHERE action = %s", (marker,)).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM hdms_audit_entry WHERE action = %s", (marker + ".new",)).fetchone() == (1,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # the purge gave its DELETE back
            conn.execute("DELETE FROM hdms_audit_entry")
    purged = entries(desk, admin, "ticket", action="audit.purged", since=datetime.fromtimestamp(started - 5, UTC).isoformat())
    assert purged and purged[0]["details"]["deleted"] >= 3 and purged[0]["details"]["older_than_days"] == 365
