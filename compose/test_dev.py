"""base + dev, from nothing: the acceptance test our users run first, and every compose defect
found when the files first ran (issue 29), each as a test."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import uuid
from datetime import datetime

import httpx

from hdms_tools.stack import REPO
from tests.helpdesk import Helpdesk, next_message, png, upload, wait_status

APPS = ("user-service", "ticket-service", "communication-service", "file-service", "file-worker", "events-worker",
        "beat", "user-worker", "ticket-worker", "ticket-relay", "file-relay")  # fmt: skip


def started(container: dict) -> datetime:
    return datetime.fromisoformat(container["State"]["StartedAt"][:26].rstrip("Z"))


def test_every_container_is_healthy_after_up_wait(dev):
    running = dev.containers()
    names = {c["Service"] for c in running}
    assert {"postgres", "pgbouncer", "redis", "gateway", *APPS} <= names
    for container in running:
        assert container["State"] == "running", container
        assert container.get("Health") == "healthy", container["Service"]
    assert dev.up_seconds is not None


def test_migrations_ran_once_before_any_app_started(dev):
    migrate = dev.containers("migrate", all_states=True)
    assert len(migrate) == 1 and migrate[0]["ExitCode"] == 0
    details = dev.inspect(migrate[0]["Name"])
    assert details["RestartCount"] == 0
    finished = datetime.fromisoformat(details["State"]["FinishedAt"][:26].rstrip("Z"))
    for container in dev.containers():
        if container["Service"] in APPS:
            assert started(dev.inspect(container["Name"])) > finished, container["Service"]


def test_dbshell_from_a_service_reaches_postgres_through_pgbouncer(dev):
    """Exactly the command our users type (with -T: no terminal here), fed `\\conninfo` and a query."""
    done = dev.run(
        "exec", "-T", "ticket-service", "python", "manage.py", "dbshell",
        input="\\conninfo\nSELECT current_user, current_database();\nSHOW server_encoding;\n",
    )  # fmt: skip
    assert 'on host "pgbouncer"' in done.stdout and 'port "6432"' in done.stdout, done.stdout
    assert re.search(r"^ hdms_ticket +\| hdms_ticket$", done.stdout, re.M), done.stdout
    assert re.search(r"^ UTF8$", done.stdout, re.M), done.stdout  # as upstream's initdb makes it (offline: LANG)


def test_postgres_has_no_network_and_accepts_only_its_socket(dev):
    """The rule holds without the engine's isolation (this engine runs with --iptables=false)."""
    postgres = dev.inspect(dev.containers("postgres")[0]["Name"])
    assert postgres["HostConfig"]["NetworkMode"] == "none"
    assert not postgres["NetworkSettings"]["Networks"].get("none", {}).get("IPAddress")
    # pg_hba.conf: nothing over TCP, even from inside the container itself
    tcp = dev.exec("postgres", "psql", "-h", "127.0.0.1", "-U", "postgres", "-c", "select 1", check=False)
    assert tcp.returncode != 0
    query = "SELECT type, auth_method FROM pg_hba_file_rules ORDER BY line_number"
    rules = dev.exec("postgres", "sh", "-c", f'PGPASSWORD="$POSTGRES_PASSWORD" psql -At -U postgres -d postgres -c "{query}"')
    assert rules.stdout.split() == ["local|scram-sha-256", "host|reject", "hostssl|reject"], rules.stdout


def test_no_app_container_reaches_postgres(dev):
    """From every app container: PostgreSQL's name does not resolve to anything that answers (it
    has no address), and no address any container has is PostgreSQL's. Bounded: a name Docker's DNS
    does not know is asked upstream, which here never answers."""
    probe = (
        "import threading, psycopg\n"
        "result = []\n"
        "def attempt():\n"
        "    try:\n"
        "        psycopg.connect(host='postgres', port=5432, user='postgres', dbname='postgres', connect_timeout=2).close()\n"
        "        result.append('reached')\n"
        "    except Exception as exc:\n"
        "        result.append('refused')\n"
        "thread = threading.Thread(target=attempt, daemon=True); thread.start(); thread.join(4)\n"
        "print(result[0] if result else 'refused (no answer)')\n"
    )
    containers = [c for c in dev.containers() if c["Service"] in APPS]
    assert {c["Service"] for c in containers} == set(APPS)
    postgres_id = dev.containers("postgres")[0]["ID"]
    for container in containers:
        done = dev.docker_exec(container["Name"], "python", "-c", probe)
        assert done.stdout.startswith("refused"), (container["Service"], done.stdout)
    for network in dev.inspect(containers[0]["Name"])["NetworkSettings"]["Networks"]:
        attached = json.loads(
            subprocess.run(["docker", "network", "inspect", network], capture_output=True, text=True, check=True).stdout
        )
        assert not any(cid.startswith(postgres_id) for cid in attached[0]["Containers"]), network


def test_only_loopback_is_published(dev):
    for container in dev.containers():
        for binding in container.get("Publishers") or []:
            if binding.get("PublishedPort"):
                assert binding["URL"] in ("127.0.0.1",), (container["Service"], binding)


def test_the_private_key_is_readable_by_user_service_only(dev):
    dev.exec("user-service", "python", "-c", "open('/run/secrets/jwt_private').read()")
    for service in ("ticket-service", "communication-service", "file-service", "file-worker"):
        assert dev.exec(service, "test", "-e", "/run/secrets/jwt_private", check=False).returncode != 0, service


def test_a_user_journey_through_the_gateway(dev):
    desk = Helpdesk(dev.values, through_gateway=True)
    customer = desk.customer()
    ticket = desk.ticket(customer, "Compose journey")

    async def live_comment():
        async with desk.socket(customer, ticket["id"]) as ws:
            await asyncio.sleep(0.3)
            desk.comment(customer, ticket["id"], "seen live")
            return await next_message(ws, timeout=15, where=lambda m: m.get("type") == "comment.added")

    event = asyncio.run(live_comment())
    assert event["type"] == "comment.added"
    posted = upload(desk, customer, ticket["id"], "shot.png", png(), "image/png")
    assert posted.status_code in (201, 202), posted.text
    ready = wait_status(desk, customer, posted.json()["id"], {"ready", "rejected"}, timeout=60)
    assert ready["status"] == "ready", ready
    got = desk.call("file", "GET", f"/api/v1/attachments/{ready['id']}/download/", customer)
    assert got.status_code == 200 and got.content[:8] == b"\x89PNG\r\n\x1a\n"
    base = f"http://127.0.0.1:{dev.values['GATEWAY_PORT']}"
    page = httpx.get(f"{base}/ticket/api/docs/", timeout=10)
    assert page.status_code == 200
    for asset in ("swagger-ui.css", "swagger-ui-bundle.js"):
        assert asset in page.text
        path = next(part.split('"')[0] for part in page.text.split('"/static/')[1:] if part.split('"')[0].endswith(asset))
        assert httpx.get(f"{base}/static/{path}", timeout=10).status_code == 200, path


def test_forwarded_for_counts_only_from_the_gateway(dev):
    """TRUSTED_PROXIES=gateway: another container calling user-service directly is recorded as
    itself whatever X-Forwarded-For it sends; through the gateway, the address the gateway saw."""
    ghost = f"ghost-{uuid.uuid4().hex[:10]}@example.com"
    body = json.dumps({"email": ghost, "password": "wrong-password-1"})
    probe = (
        "import sys, urllib.request, urllib.error\n"
        "request = urllib.request.Request('http://user-service:8001/api/v1/auth/login/', data=sys.argv[1].encode(),\n"
        "    headers={'Content-Type': 'application/json', 'X-Forwarded-For': '198.51.100.77'})\n"
        "try:\n    urllib.request.urlopen(request, timeout=10)\nexcept urllib.error.HTTPError as exc:\n    print(exc.code)\n"
    )
    assert dev.exec("file-worker", "python", "-c", probe, body).stdout.strip() == "401"
    via_gateway = httpx.post(
        f"http://127.0.0.1:{dev.values['GATEWAY_PORT']}/api/v1/auth/login/",
        content=body,
        headers={"Content-Type": "application/json", "X-Forwarded-For": "198.51.100.78"},
        timeout=10,
    )
    assert via_gateway.status_code == 401, via_gateway.text
    query = (
        "from hdms_platform.models import AuditEntry; "
        f"print(sorted(AuditEntry.objects.filter(details__email={ghost!r}).values_list('client_address', flat=True)))"
    )
    listed = dev.exec("user-service", "python", "manage.py", "shell", "-c", query).stdout.strip().splitlines()[-1]
    addresses = json.loads(listed.replace("'", '"'))
    worker = next(iter(dev.inspect(dev.containers("file-worker")[0]["Name"])["NetworkSettings"]["Networks"].values()))
    assert len(addresses) == 2 and worker["IPAddress"] in addresses, (addresses, worker["IPAddress"])
    assert not any(address.startswith("198.51.100.") for address in addresses), addresses


def test_probes_and_metrics_answer_whatever_the_host(dev):
    """Prometheus and the health checks ask by name or address, not by a public host name."""
    for service, port in (("ticket-service", 8002), ("file-service", 8004)):
        probe = (
            "import socket,urllib.request\n"
            f"ip = socket.gethostbyname(socket.gethostname())\n"
            f"for host in ('{service}', ip):\n"
            f"    for path in ('/health/live', '/metrics'):\n"
            f"        urllib.request.urlopen(f'http://{{host}}:{port}{{path}}', timeout=5)\n"
        )
        dev.exec(service, "python", "-c", probe)


def test_the_gateway_follows_a_recreated_container(dev):
    base = f"http://127.0.0.1:{dev.values['GATEWAY_PORT']}"
    before = dev.containers("ticket-service")[0]["ID"]
    dev.run("up", "-d", "--no-deps", "--no-build", "--force-recreate", "--wait", "ticket-service", timeout=240)
    assert dev.containers("ticket-service")[0]["ID"] != before
    answers = [httpx.get(f"{base}/ticket/health/live", timeout=5).status_code for _ in range(5)]
    assert answers == [200] * 5, answers


def test_backup_in_compose(dev):
    done = dev.run("--profile", "tools", "run", "--rm", "backup", timeout=240, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    listing = dev.run("--profile", "tools", "run", "--rm", "--entrypoint", "ls", "backup", "/backups").stdout.split()
    assert listing and listing[0].startswith("hdms-")
    # and the restore refuses while the stack's programs are connected
    refused = dev.run("--profile", "tools", "run", "--rm", "backup", "python", "-m", "hdms_tools.backup", "restore",
                      f"/backups/{listing[0]}", check=False, timeout=240)  # fmt: skip
    assert refused.returncode != 0 and "stop the programs first" in refused.stderr, refused.stdout + refused.stderr


def test_the_image_is_lean_and_holds_no_secrets_or_state(dev):
    from hdms_tools import images

    assert images.image_size(images.APP) <= 450 * 1000 * 1000
    probe = (
        "import importlib.util as u; print([m for m in ('pytest','mypy','ruff','matplotlib','schemathesis') if u.find_spec(m)])"
    )
    assert dev.exec("ticket-service", "python", "-c", probe).stdout.strip() == "[]"
    found = dev.exec(
        "ticket-service",
        "sh",
        "-c",
        "find /app -name '*.pem' -o -name '.env' -o -name backups -o -name .keys -o -name .git | head",
    ).stdout
    assert found.strip() == "", found
    assert dev.exec("ticket-service", "id", "-u").stdout.strip() == "10001"


def test_make_status_and_verify_work_on_the_compose_stack(dev):
    assert subprocess.run(["python3", "-m", "hdms_tools.stack", "mode"], cwd=REPO, env={**dev.env(), "HDMS_ENV_FILE": str(dev.env_file)},
                          capture_output=True, text=True).stdout.strip() == "docker"  # fmt: skip
    status = dev.make("status")
    assert status.returncode == 0 and "ticket-service" in status.stdout, status.stdout + status.stderr
    verify = dev.make("verify")
    assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr[-2000:]


def test_verify_fails_with_the_redis_container_stopped(dev):
    """Redis comes back at once; the next test's restart and health wait cover the recovery."""
    dev.run("stop", "--timeout", "2", "redis")
    try:
        failed = subprocess.run(
            ["bash", "scripts/verify-all-connections.sh"], cwd=REPO, env=dev.env(), capture_output=True, text=True, timeout=120
        )
        assert failed.returncode != 0 and "FAILED cache/" in failed.stdout, failed.stdout
    finally:
        dev.run("start", "redis")


def test_restart_second_up_and_down_up_come_back_healthy_keeping_data(dev):
    dev.run("restart", "--timeout", "3", timeout=300)  # also recovers from the Redis stop above
    dev.wait_healthy()
    desk = Helpdesk(dev.values, through_gateway=True)
    customer = desk.customer()
    ticket = desk.ticket(customer, "Survives down and up")
    again = dev.make("up")  # a second `up`: the one-shot migrate runs again
    assert again.returncode == 0, again.stderr[-2000:]
    assert dev.containers("migrate", all_states=True)[0]["ExitCode"] == 0
    down = dev.make("down")
    assert down.returncode == 0 and dev.containers() == [], down.stdout + down.stderr
    assert dev.make("status").returncode != 0  # nothing runs: status says so
    back = dev.make("up")
    assert back.returncode == 0, back.stderr[-2000:]
    who = desk.login(customer.email, "e2e-correct-horse-42")
    got = desk.call("ticket", "GET", f"/api/v1/tickets/{ticket['id']}/", who)
    assert got.status_code == 200 and got.json()["subject"] == "Survives down and up"
