"""`make test`: every suite against a private stack on free ports, torn down at the end.

The private stack has its own data directory under /tmp, its own secrets and key pair, and
PgBouncer pools of 2 (the smallest that shows transaction-pooling bugs). Variables that could
point a test at a developer's stack are scrubbed from the environment first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from hdms_platform.conf.catalogue import SERVICES

from .privatestack import MIGRATE, PROGRAMS, PY, START, PrivateStack
from .stack.config import REPO


@dataclass
class Suite:
    name: str
    ok: bool
    seconds: float
    passed: int = 0
    failed: int = 0
    skipped: int = 0


TEST_SETTINGS = {
    "HDMS_SETTINGS": "test",
    "PGBOUNCER_POOL_SIZE": "2",
    "LOG_LEVEL": "WARNING",
    "HDMS_WEB_WORKERS": "2",
    "PRESENCE_TTL_SECONDS": "2",  # so the end-to-end tests see presence expire quickly
    "LOGIN_MAX_ATTEMPTS_PER_ADDRESS": "100000",  # every test (and the API fuzzer) signs in from 127.0.0.1
    "WRITES_PER_USER_PER_MINUTE": "100000",  # the API fuzzer writes as one user; test_security lowers it
    "PROMETHEUS_SCRAPE_INTERVAL": "1s",
    "LOG_FORMAT": "json",  # production's format: the tests read the access log
    # A task held by a Celery worker that kombu's Redis transport crashed during a Redis outage
    # comes back after this long (production: 600 s); within the fault suite's 60 s grace.
    "CELERY_VISIBILITY_TIMEOUT": "20",
    # The retention purges run every few seconds, so tests see the schedule at work (production: hourly).
    "RETENTION_INTERVAL_SECONDS": "5",
}


# mypy with the Django and DRF plugins (pyproject.toml): the runtime library inside ticket-service's
# settings, each service inside its own; a cache per target, since every service has a `core`.
MYPY_TARGETS = [
    ("hdms_platform", REPO / "libs" / "hdms-platform" / "src", ["hdms_platform"]),
    *((f"{s}-service", REPO / "services" / f"{s}-service" / "src", ["core", "apps"]) for s in SERVICES),
]


def mypy_command(name: str, targets: list[str]) -> list[str]:
    config, cache = REPO / "pyproject.toml", Path(tempfile.gettempdir()) / "hdms-mypy-cache" / name
    return [str(REPO / ".venv" / "bin" / "mypy"), "--config-file", str(config), "--cache-dir", str(cache), *targets]


def mypy_env(name: str) -> dict[str, str]:
    settings_home = REPO / "services" / ("ticket-service" if name == "hdms_platform" else name) / "src"
    return {"PYTHONPATH": f"{settings_home}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "MYPYPATH": str(settings_home)}


def mypy_all(suites: list[Suite]) -> None:
    """Every mypy target, as many at once as there are cores (each is one process, mostly CPU), each
    reported like any other suite, in order, with its own output."""
    from concurrent.futures import ThreadPoolExecutor

    def check(target: tuple[str, Path, list[str]]) -> tuple[str, list[str], subprocess.CompletedProcess[str], float]:
        name, source, targets = target
        argv, started = mypy_command(name, targets), time.monotonic()
        done = subprocess.run(
            argv, cwd=source, env={**os.environ, **mypy_env(name)}, stdin=subprocess.DEVNULL, capture_output=True, text=True
        )
        return name, argv, done, time.monotonic() - started

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for name, argv, done, seconds in pool.map(check, MYPY_TARGETS):
            print(f"\n=== mypy {name}: {' '.join(argv)}\n{done.stdout}{done.stderr}", end="", flush=True)
            ok = done.returncode == 0
            suites.append(Suite(f"mypy {name}", ok, round(seconds, 1), passed=int(ok), failed=int(not ok)))


def test_stack() -> PrivateStack:
    """The stack `make test` runs every suite on."""
    return PrivateStack("hdms-test-", TEST_SETTINGS)


def run(
    name: str, argv: list[str], suites: list[Suite], *, cwd: Path = REPO, junit: Path | None = None, env: dict | None = None
) -> bool:
    print(f"\n=== {name}: {' '.join(argv)}", flush=True)
    started = time.monotonic()
    code = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})}).returncode
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


def compose_suite(suites: list[Suite]) -> None:
    """The compose files on a real Docker engine (compose/): one started here if none answers (as
    root; stopped again after), else skipped with the reason on one line."""
    from . import images

    engine = images.Engine()
    reason = engine.why_not()
    if reason:
        print(f"\n=== compose: skipped: {reason}", flush=True)
        suites.append(Suite("compose (skipped)", True, 0.0, skipped=1))
        return
    try:
        engine.ensure()
    except (images.StackError, subprocess.CalledProcessError) as exc:
        print(f"\n=== compose: no Docker engine could be started: {exc}", flush=True)
        suites.append(Suite("compose: engine", False, 0.0, failed=1))
        return
    state = Path(tempfile.mkdtemp(prefix="hdms-compose-suite-"))
    try:
        pytest("compose", REPO / "compose", state, suites, ["--durations=5"])
    finally:
        engine.stop()
        shutil.rmtree(state, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """`make test` runs every suite; `make chaos` (`--only chaos`) only the fault suite, on its own
    stack; `make lint` and the pre-commit hook (`--only mypy`) the type checks, on a stack's
    configuration (the settings need one) with no server started."""
    only_chaos = (argv or []) == ["--only", "chaos"]
    only_mypy = (argv or []) == ["--only", "mypy"]
    only_compose = (argv or []) == ["--only", "compose"]
    if argv and not (only_chaos or only_mypy or only_compose):
        print("usage: python -m hdms_tools.testrun [--only chaos|mypy|compose]", file=sys.stderr)
        return 2
    stack = test_stack()
    stack.activate()
    if only_mypy:
        try:
            checked: list[Suite] = []
            mypy_all(checked)
            return 0 if all(suite.ok for suite in checked) else 1
        finally:
            stack.stop()
    state = stack.root
    suites: list[Suite] = []
    started = time.monotonic()
    print(f"private stack: {state} (env {stack.env_file})", flush=True)
    try:
        if only_compose:
            compose_suite(suites)
        elif only_chaos and run(*START, suites):
            run(*MIGRATE, suites)
            if run(*PROGRAMS, suites):
                pytest("chaos", REPO / "chaos", state, suites)
        elif run(*START, suites):
            run("ruff", [str(REPO / ".venv" / "bin" / "ruff"), "check", "."], suites)
            run("ruff format --check", [str(REPO / ".venv" / "bin" / "ruff"), "format", "--check", "."], suites)
            mypy_all(suites)
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
            pytest("tools", REPO / "libs" / "hdms-tools", state, suites)
            for service in SERVICES:
                pytest(f"{service}-service", REPO / "services" / f"{service}-service", state, suites)
            if run(*PROGRAMS, suites):
                pytest("integration", REPO / "tests", state, suites)
                run("verify-all-connections.sh", ["bash", "scripts/verify-all-connections.sh"], suites)
                pytest("chaos", REPO / "chaos", state, suites)  # last: it stops and restarts the servers
    finally:
        stack.stop()
    if not (only_chaos or only_compose):
        compose_suite(suites)  # on its own engine, after the native stack is down: two cores

    print("\n=== summary")
    for suite in suites:
        counts = f"{suite.passed} passed, {suite.failed} failed" + (f", {suite.skipped} skipped" if suite.skipped else "")
        print(f"{'ok    ' if suite.ok else 'FAILED'} {suite.name:<34} {counts:<32} {suite.seconds:7.1f}s")
    passed, failed = sum(s.passed for s in suites), sum(s.failed for s in suites)
    skipped = sum(s.skipped for s in suites)
    ok = all(s.ok for s in suites) and failed == 0
    what = "chaos" if only_chaos else "test-compose" if only_compose else "test"
    print(f"make {what} finished in {time.monotonic() - started:.0f}s")
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
