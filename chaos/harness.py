"""The fault suite's tools: steady load, readiness watchers, a socket that keeps reconnecting, the
faults themselves, and the ledger of what was acknowledged, checked against the databases after.

Everything runs against the private stack `make test` / `make chaos` started (real PostgreSQL
behind PgBouncer, real Redis, gunicorn/uvicorn, Celery).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from websockets.exceptions import ConnectionClosed

from hdms_tools.stack import REPO, read_pid
from tests.helpdesk import Helpdesk, Person

PY = sys.executable
FAIL_FAST_SECONDS = 2.0  # the bound a failing request must answer within (issue #8)
RECOVERY_SECONDS = 5.0  # the bound for everything to work again after the dependency returns
CLIENT_TIMEOUT = 15.0  # far above the bound, so a hung request is seen as hung, not cut short


@dataclass
class Outcome:
    job: str  # create | comment | list | detail | comments
    kind: str  # "read" | "write"
    started: float
    seconds: float
    status: int | str  # HTTP status, or the client exception's name
    body: dict | None = None
    write_id: str | None = None  # id of what a successful write created
    text: str | None = None  # the subject or comment body a write sent

    @property
    def ok(self) -> bool:
        return isinstance(self.status, int) and self.status < 400

    @property
    def failed_fast(self) -> bool:
        """A clear refusal in time: 503 with the JSON error model, within the bound."""
        return self.refused_within(FAIL_FAST_SECONDS)

    def refused_within(self, bound: float) -> bool:
        return self.status == 503 and self.seconds <= bound and isinstance(self.body, dict) and "error" in self.body


class Background:
    """Threads running `_run(arg)` from `with` entry until exit."""

    def __init__(self, args):
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(arg,), daemon=True) for arg in args]

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=CLIENT_TIMEOUT + 5)

    def _run(self, arg) -> None:
        raise NotImplementedError


class Load(Background):
    """Steady reads and writes against ticket-service: writers create tickets and comment on a
    watched ticket, readers list and fetch. Every outcome is recorded with its timing."""

    def __init__(
        self,
        desk: Helpdesk,
        customer: Person,
        watched_ticket: str,
        *,
        pause: float = 0.1,
        jobs: tuple[str, ...] = ("create", "comment", "list", "detail"),
    ):
        self.desk, self.customer, self.watched, self.pause = desk, customer, watched_ticket, pause
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        super().__init__(jobs)

    def _request(self, client: httpx.Client, job: str) -> Outcome:
        base = self.desk.urls["ticket"] + "/api/v1/tickets/"
        kind = "write" if job in ("create", "comment") else "read"
        text = f"chaos {uuid.uuid4().hex[:12]}" if kind == "write" else None
        started = time.monotonic()
        try:
            if job == "create":
                response = client.post(base, json={"subject": text})
            elif job == "comment":
                response = client.post(f"{base}{self.watched}/comments/", json={"body": text})
            elif job == "list":
                response = client.get(base, params={"page_size": 5})
            elif job == "comments":  # three queries, each queued on its own: access, count, page
                response = client.get(f"{base}{self.watched}/comments/", params={"page_size": 5})
            else:
                response = client.get(f"{base}{self.watched}/")
        except httpx.HTTPError as exc:
            return Outcome(job, kind, started, time.monotonic() - started, type(exc).__name__, text=text)
        seconds = time.monotonic() - started
        try:
            body = response.json()
        except ValueError:
            body = None
        write_id = body.get("id") if kind == "write" and response.status_code == 201 and isinstance(body, dict) else None
        return Outcome(job, kind, started, seconds, response.status_code, body, write_id, text)

    def _run(self, job: str) -> None:
        headers = {"Authorization": f"Bearer {self.customer.token}"}
        with httpx.Client(timeout=CLIENT_TIMEOUT, headers=headers) as client:
            while not self._stop.is_set():
                outcome = self._request(client, job)
                with self._lock:
                    self.outcomes.append(outcome)
                self._stop.wait(self.pause)

    def between(self, start: float, end: float) -> list[Outcome]:
        with self._lock:
            return [o for o in self.outcomes if start <= o.started < end]

    def accepted(self, job: str) -> list[str]:
        with self._lock:
            return [o.write_id for o in self.outcomes if o.write_id and o.job == job]

    def first_success_after(self, moment: float, kind: str) -> float | None:
        with self._lock:
            done = [o.started + o.seconds for o in self.outcomes if o.ok and o.kind == kind and o.started >= moment]
        return min(done) - moment if done else None


class UserLoad(Background):
    """One reader of user-service (`users/me`), to show a fault of ticket-service stays there."""

    def __init__(self, desk: Helpdesk, who: Person):
        self.desk, self.who = desk, who
        self.outcomes: list[Outcome] = []
        super().__init__(("me",))

    def _run(self, job: str) -> None:
        with httpx.Client(timeout=CLIENT_TIMEOUT, headers={"Authorization": f"Bearer {self.who.token}"}) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    status = client.get(self.desk.urls["user"] + "/api/v1/users/me/").status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                self.outcomes.append(Outcome(job, "read", started, time.monotonic() - started, status))
                self._stop.wait(0.1)


class PoolHog(Background):
    """Holds a service's whole PgBouncer pool: `threads` connections (as the service's own role,
    through PgBouncer) each run `SELECT pg_sleep(query_seconds)` back to back, so every query of
    the service waits in PgBouncer's queue for a server connection."""

    def __init__(self, env: dict[str, str], service: str, *, threads: int, query_seconds: float):
        self.env, self.service, self.query_seconds = env, service, query_seconds
        self.queries = 0
        super().__init__(range(threads))

    def _run(self, _: int) -> None:
        while not self._stop.is_set():
            try:
                with _connect(self.env, self.service) as conn:
                    while not self._stop.is_set():
                        conn.execute("SELECT pg_sleep(%s)", [self.query_seconds])
                        self.queries += 1
            except psycopg.OperationalError:  # PgBouncer's query_wait_timeout closed us: queue again
                continue


class Readiness(Background):
    """Polls every service's /health/ready every 0.2 s, recording (answered at, status)."""

    def __init__(self, desk: Helpdesk):
        self.desk = desk
        self.samples: dict[str, list[tuple[float, int | str]]] = {s: [] for s in desk.urls}
        super().__init__(desk.urls)

    def _run(self, service: str) -> None:
        with httpx.Client(timeout=CLIENT_TIMEOUT) as client:
            while not self._stop.is_set():
                try:
                    status: int | str = client.get(self.desk.urls[service] + "/health/ready").status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                self.samples[service].append((time.monotonic(), status))
                self._stop.wait(0.2)

    def first(self, service: str, status: int, after: float) -> float | None:
        """Seconds from `after` until the first answer with `status` (answered, not sent)."""
        return next((at - after for at, got in list(self.samples[service]) if at >= after and got == status), None)

    def ready_again(self, after: float) -> float | None:
        """Seconds from `after` until every service answered 200 and kept answering it."""
        times = []
        for samples in self.samples.values():
            samples = [(at, got) for at, got in list(samples) if at >= after]
            last_bad = max((at for at, got in samples if got != 200), default=after)
            good = [at for at, got in samples if got == 200 and at >= last_bad]
            if not good:
                return None
            times.append(good[0] - after)
        return max(times)


class SocketWatcher:
    """A customer's socket on the watched ticket that reconnects after every close, with
    ?last_event_id=, as a client is told to. Records every event and every close code."""

    def __init__(self, desk: Helpdesk, who: Person, ticket_id: str):
        self.desk, self.who, self.ticket_id = desk, who, ticket_id
        self.events: list[dict] = []
        self.close_codes: list[int] = []
        self.connects = 0
        self.last_seq: int | None = None
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> SocketWatcher:
        self._thread.start()
        if not self._connected.wait(15):
            raise AssertionError("the watcher socket never connected")
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                async with self.desk.socket(
                    self.who, self.ticket_id, last_event_id=self.last_seq if self.last_seq is not None else 0
                ) as ws:
                    self.connects += 1
                    self._connected.set()
                    while not self._stop.is_set():
                        try:
                            message = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                        except TimeoutError:
                            continue
                        if "seq" in message:
                            self.last_seq = max(self.last_seq or 0, message["seq"])
                            self.events.append({**message, "_connection": self.connects})
            except ConnectionClosed as closed:
                self.close_codes.append(closed.rcvd.code if closed.rcvd else 1006)
            except Exception as exc:  # noqa: BLE001 - refused handshakes, resets: count it and retry
                self.close_codes.append(getattr(getattr(exc, "response", None), "status_code", -1))
            await asyncio.sleep(0.5)

    def comment_ids(self) -> Counter:
        return Counter(e["data"]["comment"]["id"] for e in self.events if e.get("type") == "comment.added")


def _connect(env: dict[str, str], service: str) -> psycopg.Connection:
    """Through PgBouncer, like the services."""
    return psycopg.connect(
        host="127.0.0.1",
        port=env["PGBOUNCER_PORT"],
        dbname=f"hdms_{service}",
        user=f"hdms_{service}",
        password=env[f"{service.upper()}_DB_PASSWORD"],
        connect_timeout=5,
        prepare_threshold=None,
        autocommit=True,
    )


def found(env: dict[str, str], table: str, ids: list[str]) -> set[str]:
    with _connect(env, "ticket") as conn:
        rows = conn.execute(f"SELECT id::text FROM {table} WHERE id = ANY(%s::uuid[])", [ids]).fetchall()
    return {r[0] for r in rows}


def found_text(env: dict[str, str], table: str, column: str, texts: list[str]) -> set[str]:
    with _connect(env, "ticket") as conn:
        rows = conn.execute(f"SELECT {column} FROM {table} WHERE {column} = ANY(%s)", [texts]).fetchall()
    return {r[0] for r in rows}


def stored_events(env: dict[str, str], event_type: str, ticket_ids: list[str] | None = None) -> list[dict]:
    with _connect(env, "communication") as conn:
        sql = "SELECT payload || jsonb_build_object('seq', id) FROM conversations_ticket_event WHERE type = %s"
        args: list = [event_type]
        if ticket_ids is not None:
            sql += " AND ticket_id = ANY(%s::uuid[])"
            args.append(ticket_ids)
        return [r[0] for r in conn.execute(sql, args).fetchall()]


def sequence_problems(env: dict[str, str]) -> list[str]:
    """Each source's stored events must carry 1..N without a hole, none parked, no gap reported."""
    problems = []
    with _connect(env, "communication") as conn:
        rows = conn.execute(
            "SELECT payload->>'source', array_agg((payload->>'source_seq')::bigint) FROM conversations_ticket_event "
            "WHERE payload ? 'source_seq' GROUP BY 1"
        ).fetchall()
        for source, seqs in rows:
            holes = sorted(set(range(1, max(seqs) + 1)) - set(seqs))
            if holes:
                problems.append(f"{source}: numbers never stored {holes[:10]}")
        for table in ("conversations_parked_event", "conversations_event_gap"):
            (count,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            if count:
                problems.append(f"{count} rows in {table}")
    return problems


def wait_for(check, *, timeout: float, interval: float = 0.5):
    """Poll `check()` until it returns something truthy; return the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# -- faults --------------------------------------------------------------------------------------


def data_dir(env: dict[str, str]) -> Path:
    return Path(env["HDMS_DATA_DIR"])


def server_pid(env: dict[str, str], server: str) -> int:
    path = data_dir(env) / ("postgres/postmaster.pid" if server == "postgres" else f"run/{server}.pid")
    pid = read_pid(path)
    assert pid and Path(f"/proc/{pid}").exists(), f"{server} is not running (pidfile {path})"
    return pid


def stop_server(env: dict[str, str], server: str) -> None:
    """SIGTERM (PostgreSQL: SIGINT, its fast shutdown) and wait for the process to be gone."""
    pid = server_pid(env, server)
    os.kill(pid, signal.SIGINT if server == "postgres" else signal.SIGTERM)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not Path(f"/proc/{pid}").exists(), f"{server} (pid {pid}) did not stop"


def start_servers() -> None:
    """The launcher starts whatever is not running (and leaves the rest alone)."""
    result = subprocess.run([PY, "-m", "hdms_tools.stack", "start"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def processes(command: str, *names: str, extra_env: dict | None = None) -> None:
    result = subprocess.run(
        [PY, "-m", "hdms_tools.processes", command, *names],
        cwd=REPO,
        env={**os.environ, **(extra_env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def process_pids(env: dict[str, str]) -> dict[str, int | None]:
    return {p.stem: read_pid(p) for p in sorted((data_dir(env) / "run").glob("*.pid"))}


def alive(pid: int | None) -> bool:
    return bool(pid) and Path(f"/proc/{pid}").exists() and ") Z " not in Path(f"/proc/{pid}/stat").read_text()


# -- the report ----------------------------------------------------------------------------------


@dataclass
class Row:
    fault: str
    sent: int = 0
    failed_fast: int = 0
    hung: int = 0
    other_errors: int = 0
    writes_accepted: int = 0
    writes_found: int = 0
    events_lost: int = 0
    notes: list[str] = field(default_factory=list)


REPORT: list[Row] = []


def summarise(row: Row, outcomes: list[Outcome], bound: float = FAIL_FAST_SECONDS) -> Row:
    """Counts against `bound`: the time a request must answer within (fail fast, or its budget)."""
    row.sent = len(outcomes)
    row.failed_fast = sum(1 for o in outcomes if o.refused_within(bound))
    row.hung = sum(1 for o in outcomes if o.seconds > bound)
    row.other_errors = sum(1 for o in outcomes if not o.ok and not o.refused_within(bound) and o.seconds <= bound)
    return row


def table() -> str:
    head = ("fault", "requests sent", "failed fast", "hung", "other errors", "writes accepted", "writes found", "events lost")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in REPORT:
        cells = (r.fault, r.sent, r.failed_fast, r.hung, r.other_errors, r.writes_accepted, r.writes_found, r.events_lost)
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    notes = [f"- {r.fault}: {'; '.join(r.notes)}" for r in REPORT if r.notes]
    return "\n".join([*lines, *(["", *notes] if notes else [])])


def error_codes(outcomes: list[Outcome]) -> Counter:
    return Counter(o.status for o in outcomes if not o.ok)
