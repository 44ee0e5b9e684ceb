"""`make test`: every suite against a private stack on free ports, torn down at the end.

The private stack has its own data directory under /tmp, its own secrets and key pair, and
PgBouncer pools of 2 (the smallest that shows transaction-pooling bugs). Variables that could
point a test at a developer's stack are scrubbed from the environment first.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from . import envfile
from .stack import REPO, read_env_file

SERVICES = ("user", "ticket", "communication", "file")
PY = str(REPO / ".venv" / "bin" / "python")


@dataclass
class Suite:
    name: str
    ok: bool
    seconds: float
    passed: int = 0
    failed: int = 0
    skipped: int = 0


def free_ports(count: int) -> list[int]:
    sockets, ports = [], []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
        ports.append(sock.getsockname()[1])
    for sock in sockets:
        sock.close()
    return ports


def private_env(state: Path) -> Path:
    pgbouncer, redis, gateway, prometheus, pgb_exporter, redis_exporter, *ports = free_ports(16)
    service_ports, metrics_ports = ports[:4], ports[4:]
    keys = state / "keys"
    envfile.ensure_keys(keys / "jwt-private.pem", keys / "jwt-public.pem")
    overrides = {
        "HDMS_STACK_MODE": "native",
        "HDMS_DATA_DIR": str(state / "data"),
        "HDMS_SETTINGS": "test",
        "PGBOUNCER_PORT": str(pgbouncer),
        "PGBOUNCER_POOL_SIZE": "2",
        "REDIS_PORT": str(redis),
        "GATEWAY_PORT": str(gateway),
        "JWT_PRIVATE_KEY_FILE": str(keys / "jwt-private.pem"),
        "JWT_PUBLIC_KEY_FILE": str(keys / "jwt-public.pem"),
        "FILE_STORAGE_DIR": str(state / "media"),
        "LOG_LEVEL": "WARNING",
        "HDMS_WEB_WORKERS": "2",
        "PRESENCE_TTL_SECONDS": "2",  # so the end-to-end tests see presence expire quickly
        "LOGIN_MAX_ATTEMPTS_PER_ADDRESS": "100000",  # every test (and the API fuzzer) signs in from 127.0.0.1
        **{f"{s.upper()}_SERVICE_PORT": str(p) for s, p in zip(SERVICES, service_ports, strict=True)},
        "PROMETHEUS_PORT": str(prometheus),
        "PROMETHEUS_SCRAPE_INTERVAL": "1s",
        "PGBOUNCER_EXPORTER_PORT": str(pgb_exporter),
        "REDIS_EXPORTER_PORT": str(redis_exporter),
        **{
            f"{n}_METRICS_PORT": str(p)
            for n, p in zip(
                ("WORKER", "EVENTS", "TICKET_RELAY", "FILE_RELAY", "USER_WORKER", "TICKET_WORKER"), metrics_ports, strict=True
            )
        },
        "LOG_FORMAT": "json",  # production's format: the tests read the access log
        # A task held by a Celery worker that kombu's Redis transport crashed during a Redis outage
        # comes back after this long (production: 600 s); within the fault suite's 60 s grace.
        "CELERY_VISIBILITY_TIMEOUT": "20",
        # The retention purges run every few seconds, so tests see the schedule at work (production: hourly).
        "RETENTION_INTERVAL_SECONDS": "5",
    }
    path = state / "test.env"
    path.write_text(envfile.render((REPO / ".env.example").read_text(), overrides))
    return path


def scrub_environment() -> None:
    for key in read_env_file(REPO / ".env.example"):
        os.environ.pop(key, None)
    os.environ.pop("DJANGO_SETTINGS_MODULE", None)


def run(name: str, argv: list[str], suites: list[Suite], *, cwd: Path = REPO, junit: Path | None = None) -> bool:
    print(f"\n=== {name}: {' '.join(argv)}", flush=True)
    started = time.monotonic()
    code = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL).returncode
    suite = Suite(name, code == 0, round(time.monotonic() - started, 1))
    if junit and junit.exists():
        root = ET.parse(junit).getroot()
        for ts in root.iter("testsuite"):
            tests, failures, errors = int(ts.get("tests", 0)), int(ts.get("failures", 0)), int(ts.get("errors", 0))
            skipped = int(ts.get("skipped", 0))
            suite.passed += tests - failures - errors - skipped
            suite.failed += failures + errors
            suite.skipped += skipped
        if code not in (0, 5) and suite.failed == 0:
            suite.failed = 1  # the run itself broke (collection error, crash)
    elif code != 0:
        suite.failed = 1
    else:
        suite.passed = 1
    suites.append(suite)
    return suite.ok


def pytest(name: str, target: Path, state: Path, suites: list[Suite], extra: list[str] | None = None) -> bool:
    junit = state / f"junit-{name.replace('/', '-')}.xml"
    return run(
        name,
        [PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", *(extra or [])],
        suites,
        cwd=target,
        junit=junit,
    )


def main(argv: list[str] | None = None) -> int:
    """`make test` runs every suite; `make chaos` (`--only chaos`) only the fault suite, on its own stack."""
    only_chaos = (argv or []) == ["--only", "chaos"]
    if argv and not only_chaos:
        print("usage: python -m hdms_platform.testrun [--only chaos]", file=sys.stderr)
        return 2
    scrub_environment()
    state = Path(tempfile.mkdtemp(prefix="hdms-test-", dir="/tmp"))
    state.chmod(0o755)
    env_file = private_env(state)
    os.environ["HDMS_ENV_FILE"] = str(env_file)
    os.environ["PYTHONPATH"] = str(REPO / "libs" / "hdms-platform" / "src")
    suites: list[Suite] = []
    started = time.monotonic()
    print(f"private stack: {state} (env {env_file})", flush=True)
    try:
        if only_chaos and run("stack start", [PY, "-m", "hdms_platform.stack", "start"], suites):
            run("migrate", ["bash", "scripts/migrate-all.sh"], suites)
            if run("services start", [PY, "-m", "hdms_platform.processes", "start"], suites):
                pytest("chaos", REPO / "chaos", state, suites)
        elif run("stack start", [PY, "-m", "hdms_platform.stack", "start"], suites):
            run("ruff", [str(REPO / ".venv" / "bin" / "ruff"), "check", "."], suites)
            run("ruff format --check", [str(REPO / ".venv" / "bin" / "ruff"), "format", "--check", "."], suites)
            prometheus = REPO / "config" / "prometheus"
            run("promtool check config", ["promtool", "check", "config", str(prometheus / "prometheus.yml")], suites)
            run("promtool test rules", ["promtool", "test", "rules", str(prometheus / "alerts.test.yml")], suites)
            for service in SERVICES:
                cwd = REPO / "services" / f"{service}-service"
                run(f"{service}: check", [PY, "manage.py", "check", "--fail-level", "WARNING"], suites, cwd=cwd)
                run(
                    f"{service}: makemigrations --check",
                    [PY, "manage.py", "makemigrations", "--check", "--dry-run"],
                    suites,
                    cwd=cwd,
                )
                run(f"{service}: lintmigrations", [PY, "manage.py", "lintmigrations"], suites, cwd=cwd)  # rolling deploys
                run(
                    f"{service}: migrate",
                    [PY, "manage.py", "migrate", "--database", "migrations", "--noinput", "-v", "0"],
                    suites,
                    cwd=cwd,
                )
            pytest("platform", REPO / "libs" / "hdms-platform", state, suites)
            for service in SERVICES:
                pytest(f"{service}-service", REPO / "services" / f"{service}-service", state, suites)
            if run("services start", [PY, "-m", "hdms_platform.processes", "start"], suites):
                pytest("integration", REPO / "tests", state, suites)
                run("verify-all-connections.sh", ["bash", "scripts/verify-all-connections.sh"], suites)
                pytest("chaos", REPO / "chaos", state, suites)  # last: it stops and restarts the servers
    finally:
        subprocess.run([PY, "-m", "hdms_platform.processes", "stop"], cwd=REPO, capture_output=True)
        subprocess.run([PY, "-m", "hdms_platform.stack", "stop", "--purge"], cwd=REPO, capture_output=True)
        shutil.rmtree(state, ignore_errors=True)

    print("\n=== summary")
    for suite in suites:
        counts = f"{suite.passed} passed, {suite.failed} failed" + (f", {suite.skipped} skipped" if suite.skipped else "")
        print(f"{'ok    ' if suite.ok else 'FAILED'} {suite.name:<34} {counts:<32} {suite.seconds:7.1f}s")
    passed, failed = sum(s.passed for s in suites), sum(s.failed for s in suites)
    skipped = sum(s.skipped for s in suites)
    ok = all(s.ok for s in suites) and failed == 0
    print(f"make {'chaos' if only_chaos else 'test'} finished in {time.monotonic() - started:.0f}s")
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
