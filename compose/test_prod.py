"""base + prod with a generated self-signed certificate: one front door over TLS, replicas that
all serve, secrets by need, limits and restart policies, and a backup that restores into an
empty stack."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import time
import uuid

import httpx
import pytest

from tests.helpdesk import PASSWORD

REPLICATED = ("user-service", "ticket-service", "communication-service", "file-service", "file-worker")
# What each container may hold: its own database password, the Redis roles it uses, the key.
OWN_SECRETS = {
    "user-service": {"USER_DB_PASSWORD"},
    "user-worker": {"USER_DB_PASSWORD"},
    "ticket-service": {"TICKET_DB_PASSWORD"},
    "ticket-worker": {"TICKET_DB_PASSWORD"},
    "ticket-relay": {"TICKET_DB_PASSWORD"},
    "communication-service": {"COMMUNICATION_DB_PASSWORD"},
    "events-worker": {"COMMUNICATION_DB_PASSWORD"},
    "file-service": {"FILE_DB_PASSWORD"},
    "file-worker": {"FILE_DB_PASSWORD"},
    "file-relay": {"FILE_DB_PASSWORD"},
    "beat": set(),
}
DB_PASSWORDS = {f"{s}_DB_PASSWORD" for s in ("USER", "TICKET", "COMMUNICATION", "FILE")}
SERVER_SECRETS = {"POSTGRES_PASSWORD", "PGBOUNCER_ADMIN_PASSWORD", "REDIS_ADMIN_PASSWORD"}


def https(prod) -> str:
    return f"https://127.0.0.1:{prod.values['GATEWAY_HTTPS_PORT']}"


def client() -> httpx.Client:
    return httpx.Client(verify=False, timeout=10, headers={"Host": "localhost"})


def test_only_the_gateway_publishes_ports(prod):
    published = {c["Service"] for c in prod.containers() for p in (c.get("Publishers") or []) if p.get("PublishedPort")}
    assert published == {"gateway"}


def test_http_redirects_to_https_and_tls_below_1_2_is_refused(prod):
    plain = httpx.get(f"http://127.0.0.1:{prod.values['GATEWAY_HTTP_PORT']}/api/v1/tickets/", headers={"Host": "localhost"})
    assert plain.status_code == 301 and plain.headers["location"].startswith("https://localhost/")
    for version, accepted in ((ssl.TLSVersion.TLSv1_1, False), (ssl.TLSVersion.TLSv1_2, True), (ssl.TLSVersion.TLSv1_3, True)):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # the client would speak TLS 1.1: the server must refuse
        context.minimum_version = context.maximum_version = version
        with socket.create_connection(("127.0.0.1", int(prod.values["GATEWAY_HTTPS_PORT"])), timeout=5) as raw:
            try:
                with context.wrap_socket(raw, server_hostname="localhost") as tls:
                    assert tls.version() is not None
                    ok = True
            except ssl.SSLError:
                ok = False
        assert ok is accepted, version


@pytest.mark.parametrize("service", REPLICATED)
def test_replicas_run(prod, service):
    running = [c for c in prod.containers(service) if c["State"] == "running" and c.get("Health") == "healthy"]
    assert len(running) == 2, running


def test_requests_reach_every_replica(prod):
    with client() as http:
        for _ in range(40):
            assert http.get(f"{https(prod)}/ticket/health/live").status_code == 200
    time.sleep(1)
    upstreams = set()
    for line in prod.logs("gateway").splitlines():
        if line.startswith("{") and '"/ticket/health/live"' in line:
            upstreams.add(json.loads(line)["upstream"])
    replicas = {
        prod.inspect(c["Name"])["NetworkSettings"]["Networks"][f"{prod.project}_backend"]["IPAddress"]
        for c in prod.containers("ticket-service")
    }
    assert {u.split(":")[0] for u in upstreams} == replicas, (upstreams, replicas)


def test_each_container_holds_only_its_own_secrets(prod):
    for container in prod.containers():
        service = container["Service"]
        if service not in OWN_SECRETS:
            continue
        env = dict(item.partition("=")[::2] for item in prod.inspect(container["Name"])["Config"]["Env"])
        held = {name for name in DB_PASSWORDS | SERVER_SECRETS if env.get(name)}
        assert held == OWN_SECRETS[service], (service, held)
        inside = prod.docker_exec(
            container["Name"], "sh", "-c", "env | cut -d= -f1; ls /run/secrets 2>/dev/null || true"
        ).stdout.split()
        assert not set(inside) & (DB_PASSWORDS | SERVER_SECRETS) - OWN_SECRETS[service], service
        assert ("jwt_private" in inside) is (service in ("user-service", "user-worker")), service


def test_memory_limits_are_applied(prod):
    for container in prod.containers():
        assert prod.inspect(container["Name"])["HostConfig"]["Memory"] > 0, container["Service"]


def test_a_killed_app_container_is_restarted_by_its_policy(prod):
    """Its main process SIGKILLed from outside, as the OOM killer or a crash would: `docker kill`
    would count as a manual stop, which no restart policy undoes."""
    victim = prod.containers("ticket-service")[0]["Name"]
    before = prod.inspect(victim)
    os.kill(before["State"]["Pid"], signal.SIGKILL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        state = prod.inspect(victim)
        if state["RestartCount"] > before["RestartCount"] and state["State"].get("Health", {}).get("Status") == "healthy":
            return
        time.sleep(1)
    raise AssertionError(f"{victim} was not restarted and healthy again within 90 s")


def _register_and_ticket(prod) -> tuple[str, str, str]:
    email = f"b-{uuid.uuid4().hex[:10]}@example.com"
    with client() as http:
        assert http.post(f"{https(prod)}/api/v1/auth/register/", json={"email": email, "password": PASSWORD}).status_code == 202
        token = http.post(f"{https(prod)}/api/v1/auth/login/", json={"email": email, "password": PASSWORD}).json()["access"]
        made = http.post(
            f"{https(prod)}/api/v1/tickets/", json={"subject": "Kept by the backup"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert made.status_code == 201, made.text
        return email, token, made.json()["id"]


def test_an_upload_works_in_prod(prod):
    """file-service asks ticket-service over plain HTTP inside the network: no redirect in the way."""
    from tests.helpdesk import png

    _email, token, ticket = _register_and_ticket(prod)
    with client() as http:
        posted = http.post(f"{https(prod)}/api/v1/attachments/", data={"ticket_id": ticket}, files={"file": ("a.png", png(), "image/png")},
                           headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        assert posted.status_code in (201, 202), posted.text


def test_the_backup_restores_into_an_empty_stack(prod):
    email, _, ticket = _register_and_ticket(prod)
    made = prod.run("--profile", "tools", "run", "--rm", "backup", timeout=300, check=False)
    assert made.returncode == 0, made.stdout + made.stderr
    name = prod.run("--profile", "tools", "run", "--rm", "--entrypoint", "ls", "backup", "/backups").stdout.split()[-1]
    prod.run("down", "--timeout", "5", timeout=180)
    for volume in ("pgdata", "redisdata", "media"):
        subprocess.run(["docker", "volume", "rm", f"{prod.project}_{volume}"], check=True, capture_output=True)
    prod.up("postgres", "pgbouncer", "redis")  # an empty stack: new volumes, initdb, no tables, no apps
    tables = prod.run("--profile", "tools", "run", "--rm", "--no-deps", "--entrypoint", "sh", "backup", "-c",
                      'PGPASSWORD="$USER_DB_PASSWORD" psql -h pgbouncer -p 6432 -U hdms_user -d hdms_user -Atc '
                      '"SELECT count(*) FROM pg_tables WHERE tablename = \'accounts_user\'"').stdout  # fmt: skip
    assert tables.strip() == "0", tables
    restored = prod.run("--profile", "tools", "run", "--rm", "backup", "python", "-m", "hdms_tools.backup", "restore",
                        f"/backups/{name}", timeout=300, check=False)  # fmt: skip
    assert restored.returncode == 0, restored.stdout + restored.stderr
    prod.up()
    with client() as http:
        login = http.post(f"{https(prod)}/api/v1/auth/login/", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        got = http.get(f"{https(prod)}/api/v1/tickets/{ticket}/", headers={"Authorization": f"Bearer {login.json()['access']}"})
        assert got.status_code == 200 and got.json()["subject"] == "Kept by the backup"
