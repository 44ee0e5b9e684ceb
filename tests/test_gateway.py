"""The gateway (nginx): one port for every service, the API docs rendered in a real browser, and
the helpdesk used end to end through it — sign-in, tickets, comments, a live socket, uploads."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

import httpx
import pytest

from hdms_tools.stack import REPO

from .conftest import manage
from .helpdesk import Helpdesk, next_message, png, upload, wait_status

ARTIFACTS = REPO / "test-artifacts"  # screenshots of the rendered docs (git-ignored)
OPERATIONS = {
    "user": "/api/v1/auth/login/",
    "ticket": "/api/v1/tickets/",
    "communication": "/api/v1/audit/communication/",  # its only HTTP operation; the rest is WebSockets
    "file": "/api/v1/attachments/",
}


@pytest.fixture(scope="module")
def gateway(stack_env) -> str:
    return f"http://127.0.0.1:{stack_env['GATEWAY_PORT']}"


@pytest.fixture(scope="module")
def desk(stack_env) -> Helpdesk:
    assert manage("user", "seed_dev_data").returncode == 0
    return Helpdesk(stack_env, through_gateway=True)


def chromium(*args: str) -> subprocess.CompletedProcess:
    """Debian's headless Chromium with the flags this closed network needs, a fresh profile each time."""
    profile = tempfile.mkdtemp(prefix="hdms-chromium-")
    try:
        return subprocess.run(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=15000",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=90,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.parametrize("service", ["user", "ticket", "communication", "file"])
def test_every_services_swagger_ui_renders_through_the_gateway(gateway, service):
    url = f"{gateway}/{service}/api/docs/"
    dom = chromium("--dump-dom", url).stdout
    assert f"HDMS {service}-service API" in dom, dom[-500:]
    # the operations list, rendered by the UI's JavaScript from the schema
    assert f'data-path="{OPERATIONS[service]}"' in dom and "opblock" in dom
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"docs-{service}.png"
    chromium(f"--screenshot={shot}", "--window-size=1280,1600", url)
    assert shot.exists() and shot.stat().st_size > 10_000


def test_static_files_are_served_directly_and_through_the_gateway(gateway, stack_env):
    asset = "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css"
    for base in (gateway, f"http://127.0.0.1:{stack_env['FILE_SERVICE_PORT']}"):
        response = httpx.get(base + asset, timeout=10)
        assert response.status_code == 200 and "text/css" in response.headers["content-type"], base


def test_the_gateway_routes_each_path_and_answers_json_elsewhere(gateway):
    for service in ("user", "ticket", "communication", "file"):
        body = httpx.get(f"{gateway}/{service}/health/live", timeout=10).json()
        assert body == {"status": "ok", "service": service}
    assert httpx.get(f"{gateway}/health", timeout=10).json()["service"] == "gateway"
    for path in ("/", "/admin/", "/user/metrics", "/ticket/api/v1/tickets/", "/../etc/passwd", "/api/v1/audit/"):
        response = httpx.get(gateway + path, timeout=10)
        assert response.status_code in (400, 404) and response.headers["content-type"] == "application/json", path
    for path in ("/api/v1/tickets/", *(f"/api/v1/audit/{s}/" for s in ("user", "ticket", "communication", "file"))):
        response = httpx.get(gateway + path, timeout=10)
        assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated", path


def test_request_ids_pass_through_and_the_access_log_is_json(gateway, stack_env):
    from pathlib import Path

    wanted = f"gw-{uuid.uuid4().hex[:12]}"
    response = httpx.get(f"{gateway}/ticket/health/live", headers={"X-Request-ID": wanted}, timeout=10)
    assert response.headers["x-request-id"] == wanted
    made = httpx.get(f"{gateway}/ticket/health/live", headers={"X-Request-ID": "bad id!"}, timeout=10)
    assert made.headers["x-request-id"] != "bad id!" and len(made.headers["x-request-id"]) == 32
    lines = (Path(stack_env["HDMS_DATA_DIR"]) / "log" / "gateway-access.log").read_text().splitlines()
    entry = next(json.loads(line) for line in reversed(lines) if wanted in line)
    assert entry["uri"] == "/ticket/health/live" and entry["status"] == 200 and entry["upstream"]


def test_an_upload_over_the_limit_is_refused_at_the_gateway_with_json(desk, stack_env):
    customer = desk.customer()
    ticket = desk.ticket(customer)
    limit = int(stack_env.get("ATTACHMENT_MAX_BYTES", 10485760))
    response = upload(desk, customer, ticket["id"], "big.bin", b"\0" * (limit + 2 * 1024 * 1024))
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"


@pytest.mark.asyncio
async def test_the_helpdesk_end_to_end_through_the_one_port(desk):
    customer, agent = desk.customer(), desk.agent()  # registration and sign-in through the gateway
    ticket = desk.ticket(customer, "Through the front door")
    async with desk.socket(customer, ticket["id"]) as ws:  # ws://<gateway>/ws/tickets/<id>/
        desk.comment(agent, ticket["id"], "Answered through the gateway")
        event = await next_message(ws, where=lambda m: m.get("type") == "comment.added")
        assert event["data"]["comment"]["body"] == "Answered through the gateway"
        created = upload(desk, customer, ticket["id"], "shot.png", png(), "image/png")
        assert created.status_code == 201, created.text
        await next_message(ws, timeout=30, where=lambda m: m.get("type") == "attachment.ready")
    attachment = wait_status(desk, customer, created.json()["id"], {"ready"})
    download = desk.call("file", "GET", f"/api/v1/attachments/{attachment['id']}/download/", customer)
    assert download.status_code == 200 and download.content == png()
    listed = desk.call("ticket", "GET", f"/api/v1/tickets/{ticket['id']}/comments/", customer).json()
    assert [c["body"] for c in listed["results"]] == ["Answered through the gateway"]


def test_every_location_that_sets_headers_sets_the_forwarding_ones_too():
    """nginx: a location with proxy_set_header lines of its own inherits none of the server's, so
    /ws/ lost Host, X-Forwarded-For/Proto and X-Request-ID (#30: the audit log then recorded the
    gateway, and a refused socket's address was the client's to choose)."""
    import re

    template = (REPO / "config/nginx/hdms.conf.template").read_text()
    server = template[template.index("server {") :]
    blocks = re.findall(r"location [^{]+\{((?:[^{}]|\{[^{}]*\})*)\}", server)
    setting = [block for block in blocks if "proxy_set_header" in block]
    assert setting, "the /ws/ location sets headers of its own"
    for block in setting:
        for header in ("Host", "X-Forwarded-For", "X-Forwarded-Proto", "X-Request-ID"):
            assert f"proxy_set_header {header} " in block, (header, block[:80])


def test_slow_uploads_do_not_starve_file_service(desk, stack_env):
    """The gateway takes an upload's whole body before it asks file-service (request buffering):
    more stalled uploads from one customer than file-service has threads (HDMS_WEB_WORKERS x 4)
    hold only gateway connections, and every other request is still answered."""
    customer = desk.customer()
    ticket = desk.ticket(customer)
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="ticket_id"\r\n\r\n{ticket["id"]}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    threads = int(stack_env.get("HDMS_WEB_WORKERS", "4")) * 4
    stalled = []
    try:
        for _ in range(threads + 4):
            conn = socket.create_connection(("127.0.0.1", int(stack_env["GATEWAY_PORT"])), timeout=5)
            conn.sendall(
                (
                    "POST /api/v1/attachments/ HTTP/1.1\r\nHost: localhost\r\n"
                    f"Authorization: Bearer {customer.token}\r\n"
                    f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(head) + 1024 * 1024}\r\n\r\n"
                ).encode()
                + head
                + b"a" * 65536  # then nothing more: a client on a very slow line
            )
            stalled.append(conn)
        time.sleep(1)  # what would reach file-service has reached it
        listing = desk.call("file", "GET", "/api/v1/attachments/", customer, params={"ticket_id": ticket["id"]})
        assert listing.status_code == 200 and listing.json()["count"] == 0, listing.text
    finally:
        for conn in stalled:
            conn.close()
