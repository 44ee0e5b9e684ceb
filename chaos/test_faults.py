"""The fault suite: what an operator fears, done to the running stack under steady load.

Each test injects one fault while readers and writers hammer ticket-service, a customer's socket
watches a ticket, and every service's readiness is polled; then it checks the promises of #8 from
the outside: no request hangs, failures are clear 503s, everything recovers without restarting a
service, every acknowledged write is in PostgreSQL, and every event reaches the socket.

The bounds (2 s to fail, 5 s to recover) are the issue's promises about behaviour, not speed
targets: the measured values are ~100x inside them, and are printed in the table's notes.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
import redis

from hdms_platform.conf.catalogue import SERVICES
from tests.helpdesk import png, upload, wait_status

from .harness import (
    FAIL_FAST_SECONDS,
    RECOVERY_SECONDS,
    REPORT,
    Load,
    PoolHog,
    Readiness,
    Row,
    SocketWatcher,
    UserLoad,
    alive,
    error_codes,
    found,
    found_text,
    process_pids,
    processes,
    sequence_problems,
    start_servers,
    stop_server,
    stored_events,
    summarise,
    wait_for,
)

SETTLE_SECONDS = 3.0
EVENT_GRACE_SECONDS = 60.0
DB_BUDGET_SECONDS = 2.0  # DB_REQUEST_BUDGET_SECONDS: the test stack keeps the default
BUDGET_MARGIN_SECONDS = 0.5  # what a request may add to its database budget (auth, rendering, the cancel)


def check_writes_and_events(env, load: Load, watcher: SocketWatcher, row: Row) -> None:
    """Every acknowledged write is in PostgreSQL; every one's event reached the store and the socket."""
    tickets, comments = load.accepted("create"), load.accepted("comment")
    row.writes_accepted = len(tickets) + len(comments)
    row.writes_found = len(found(env, "tickets_ticket", tickets)) + len(found(env, "tickets_comment", comments))

    def missing() -> tuple[set, set]:
        announced = {e["ticket_id"] for e in stored_events(env, "ticket.created", tickets)}
        return set(tickets) - announced, set(comments) - set(watcher.comment_ids())

    wait_for(lambda: not any(missing()), timeout=EVENT_GRACE_SECONDS)
    lost_tickets, lost_comments = missing()
    row.events_lost = len(lost_tickets) + len(lost_comments)
    if lost_comments:
        stored = {e["data"]["comment"]["id"]: e for e in stored_events(env, "comment.added", [watcher.ticket_id])}
        row.notes.append(
            f"comment events missing on the socket: {len(lost_comments)}, of which stored "
            f"{sum(1 for c in lost_comments if c in stored)}; socket closes {watcher.close_codes}, "
            f"connects {watcher.connects}, last seq seen {watcher.last_seq}, "
            f"missing seqs {sorted(stored[c]['seq'] for c in lost_comments if c in stored)[:20]}"
        )
    duplicates = [cid for cid, n in watcher.comment_ids().items() if n > 1]
    assert not duplicates, f"the socket received {len(duplicates)} comment events twice"
    # one writer thread comments in sequence: the socket must show them in the order written
    accepted = set(comments)
    received = [e["data"]["comment"]["id"] for e in watcher.events if e.get("type") == "comment.added"]
    received = [c for c in received if c in accepted]
    assert received == [c for c in comments if c in set(received)], "the socket received comments out of the order written"
    # order is carried by the data: every source's numbers are stored without a hole, nothing parked
    wait_for(lambda: not sequence_problems(env), timeout=EVENT_GRACE_SECONDS)
    problems = sequence_problems(env)
    assert not problems, f"the stored event sequence is broken: {problems}"


def seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f}s"


def services_not_restarted(before: dict, after: dict, *, may_restart: tuple[str, ...] = ()) -> list[str]:
    """Every program kept its process, except those in `may_restart`, which must be alive again
    (supervisord restarted them); returns which of those were restarted."""
    restarted = []
    for name in ("user", "ticket", "communication", "file", "worker", "events", "ticket-relay", "file-relay"):
        if name in may_restart and after[name] != before[name]:
            assert alive(after[name]), f"{name} died and was not restarted"
            restarted.append(name)
            continue
        assert after[name] == before[name] and alive(after[name]), (
            f"{name} was restarted or died (pid {before[name]} -> {after[name]})"
        )
    return restarted


@pytest.mark.parametrize(
    ("fault", "server", "outage"),
    [
        ("PgBouncer stopped 10 s", "pgbouncer", 10),
        ("PostgreSQL restarted", "postgres", 0),
        ("PostgreSQL stopped 20 s", "postgres", 20),  # longer than any retry interval of the events worker (10 s)
    ],
)
def test_the_database_path_fails_fast_and_recovers(stack_env, desk, customer, fault, server, outage):
    watched = desk.ticket(customer)["id"]
    pids = process_pids(stack_env)
    row = Row(fault)
    REPORT.append(row)
    with Readiness(desk) as ready, SocketWatcher(desk, customer, watched) as watcher:
        with Load(desk, customer, watched) as load:
            time.sleep(SETTLE_SECONDS)
            stopped = time.monotonic()
            stop_server(stack_env, server)
            time.sleep(outage)
            start_servers()
            restarted = time.monotonic()
            time.sleep(RECOVERY_SECONDS + SETTLE_SECONDS)
            ended = time.monotonic()
        check_writes_and_events(stack_env, load, watcher, row)
    during = load.between(stopped, restarted + RECOVERY_SECONDS)
    summarise(row, during)

    to_503 = {s: ready.first(s, 503, stopped) for s in desk.urls}
    back = ready.ready_again(restarted)
    writes_back, reads_back = load.first_success_after(restarted, "write"), load.first_success_after(restarted, "read")
    slowest = max((o.seconds for o in during), default=0)
    row.notes.append(
        "readiness 503 after "
        + ", ".join(f"{s} {seconds(t)}" for s, t in to_503.items())
        + f"; ready again {seconds(back)}, first write {seconds(writes_back)}, first read {seconds(reads_back)} after the restart;"
        + f" slowest request {slowest:.2f}s; errors {dict(error_codes(during))}"
    )

    assert row.hung == 0, f"{row.hung} requests took longer than {FAIL_FAST_SECONDS}s"
    assert row.other_errors == 0, f"failures that were not a clear 503: {dict(error_codes(during))}"
    if outage:
        assert row.failed_fast > 0, "no request failed: the fault did not bite"
        for service, took in to_503.items():
            assert took is not None and took <= FAIL_FAST_SECONDS, f"{service} readiness: 503 after {took}s"
    assert back is not None and back <= RECOVERY_SECONDS, f"readiness back after {back}s"
    assert writes_back is not None and writes_back <= RECOVERY_SECONDS, f"first write after {writes_back}s"
    assert reads_back is not None and reads_back <= RECOVERY_SECONDS, f"first read after {reads_back}s"
    assert not [o for o in load.between(restarted + RECOVERY_SECONDS, ended) if not o.ok], "failures after recovery"
    assert row.writes_found == row.writes_accepted, "acknowledged writes are missing from PostgreSQL"
    assert row.events_lost == 0
    services_not_restarted(pids, process_pids(stack_env))


def test_a_saturated_pool_bounds_each_request_and_stays_in_its_service(stack_env, desk, customer):
    """Issue #19: ticket-service's whole PgBouncer pool held by slow queries under steady load.
    Every ticket request answers within its database budget plus a margin (200 or the JSON 503),
    a refused write left nothing behind, user-service does not notice, and all recovers."""
    watched = desk.ticket(customer)["id"]
    row = Row("ticket pool held by slow queries 15 s")
    REPORT.append(row)
    pool = int(stack_env["PGBOUNCER_POOL_SIZE"])
    bound = DB_BUDGET_SECONDS + BUDGET_MARGIN_SECONDS
    jobs = ("create", "comment", "list", "detail", "comments")
    with SocketWatcher(desk, customer, watched) as watcher, UserLoad(desk, customer) as users:
        with Load(desk, customer, watched, jobs=jobs) as load:
            time.sleep(SETTLE_SECONDS)
            held = time.monotonic()
            with PoolHog(stack_env, "ticket", threads=pool, query_seconds=0.9) as hog:
                time.sleep(15)
            released = time.monotonic()
            time.sleep(RECOVERY_SECONDS + SETTLE_SECONDS)
            ended = time.monotonic()
        check_writes_and_events(stack_env, load, watcher, row)
    during = load.between(held, released + 1)
    summarise(row, during, bound)  # this row's "hung": past the budget + margin
    slow = sorted((round(o.seconds, 2), o.job, o.status) for o in during if o.seconds > bound)
    refused = [o for o in during if o.status == 503]
    by_budget = [o for o in refused if "did not answer within" in str((o.body or {}).get("error", {}).get("message", ""))]
    users_during = [o for o in users.outcomes if held <= o.started <= released]
    first_ok = load.first_success_after(released, "write")
    row.notes.append(
        f"{hog.queries} slow queries on {pool} connections (the pool); {len(during)} requests, {len(during) - len(refused)} answered,"
        f" {len(refused)} refused with 503 ({len(by_budget)} by the budget); slowest request"
        f" {max((o.seconds for o in during), default=0):.2f}s (bound {bound:g}s); user-service {len(users_during)} requests,"
        f" slowest {max((o.seconds for o in users_during), default=0):.2f}s; first write {seconds(first_ok)} after the release"
    )

    assert not slow, f"requests past the database budget + margin ({bound:g} s): {slow[:10]}"
    assert row.other_errors == 0, f"failures that were not a clear 503: {dict(error_codes(during))}"
    assert by_budget, "no request was refused by its budget: the pool was not held"
    # a refused write left nothing behind (neither the row nor, in the same transaction, its event)
    assert not found_text(stack_env, "tickets_ticket", "subject", [o.text for o in by_budget if o.job == "create"])
    assert not found_text(stack_env, "tickets_comment", "body", [o.text for o in by_budget if o.job == "comment"])
    assert users_during and all(o.status == 200 and o.seconds < 1.0 for o in users_during), "user-service was affected"
    assert first_ok is not None and first_ok <= RECOVERY_SECONDS, f"first write {first_ok}s after the release"
    assert not [o for o in load.between(released + RECOVERY_SECONDS, ended) if not o.ok], "failures after recovery"
    assert row.writes_found == row.writes_accepted and row.events_lost == 0


def test_the_broadcast_path_failing_mid_burst_loses_no_event(stack_env, desk, customer):
    """Issue #32: the channel layer refuses to publish for a second, three times, under load, while the
    sockets' subscriptions stay up (its user's PUBLISH revoked and given back: `ACL SETUSER`). Each
    broadcast refused is retried by the events worker after a jittered backoff, so broadcasts arrive
    late and out of order at sockets that were never closed — where a socket dropping lower numbers
    lost them without a trace. The socket must miss nothing, receive nothing twice, in the order written."""
    watched = desk.ticket(customer)["id"]
    pids = process_pids(stack_env)
    row = Row("channel layer refusing broadcasts 3 x 1 s mid-burst")
    REPORT.append(row)
    admin = redis.Redis(
        host="127.0.0.1", port=int(stack_env["REDIS_PORT"]), username="hdms-admin", password=stack_env["REDIS_ADMIN_PASSWORD"]
    )

    refused_before = _refused_publishes(admin)
    with SocketWatcher(desk, customer, watched) as watcher:
        with Load(desk, customer, watched) as load:
            time.sleep(SETTLE_SECONDS)
            started = time.monotonic()
            try:
                for _ in range(3):
                    # ACL SETUSER with one rule changes that rule only (redis-py's acl_setuser would
                    # also switch the user off unless told otherwise)
                    admin.execute_command("ACL", "SETUSER", "hdms-channels", "-publish")
                    time.sleep(1.0)
                    admin.execute_command("ACL", "SETUSER", "hdms-channels", "+publish")
                    time.sleep(1.5)
            finally:
                admin.execute_command("ACL", "SETUSER", "hdms-channels", "+publish")
            ended = time.monotonic()
            time.sleep(RECOVERY_SECONDS + SETTLE_SECONDS)
        check_writes_and_events(stack_env, load, watcher, row)
    refused = _refused_publishes(admin) - refused_before
    during = load.between(started, ended)
    summarise(row, during)
    row.notes.append(
        f"publishes refused {refused}; socket close codes {sorted(set(watcher.close_codes)) or 'none'},"
        f" connects {watcher.connects}; slowest request {max((o.seconds for o in during), default=0):.2f}s"
    )

    assert refused > 0, "no broadcast was refused: the fault did not bite"
    assert row.hung == 0 and row.other_errors == 0, f"requests failed: {dict(error_codes(during))}"
    assert row.writes_found == row.writes_accepted
    assert row.events_lost == 0
    services_not_restarted(pids, process_pids(stack_env))


def _refused_publishes(admin) -> int:
    """PUBLISHes Redis refused for a missing permission so far (ACL LOG, which counts repeats)."""
    return sum(int(entry.get("count", 1)) for entry in admin.acl_log(count=1000) if entry.get("object") == "publish")


def test_redis_stopped_30s_tickets_keep_working_and_nothing_is_lost(stack_env, desk, customer):
    watched = desk.ticket(customer)["id"]
    pids = process_pids(stack_env)
    row = Row("Redis stopped 30 s")
    REPORT.append(row)
    with Readiness(desk) as ready, SocketWatcher(desk, customer, watched) as watcher:
        with Load(desk, customer, watched) as load:
            time.sleep(SETTLE_SECONDS)
            connects_before = watcher.connects
            stopped = time.monotonic()
            stop_server(stack_env, "redis")
            time.sleep(1)
            # tasks created while the broker is down: uploads whose processing must happen after
            uploads = [upload(desk, customer, watched, f"outage-{i}.png", png(), "image/png") for i in range(2)]
            time.sleep(29)
            start_servers()
            restarted = time.monotonic()
            attachments = [u.json()["id"] for u in uploads if u.status_code == 201]
            processed = [
                wait_status(desk, customer, a, {"ready", "rejected"}, timeout=EVENT_GRACE_SECONDS)["status"] for a in attachments
            ]
            time.sleep(SETTLE_SECONDS)
        check_writes_and_events(stack_env, load, watcher, row)
    during = load.between(stopped, restarted)
    summarise(row, during)
    ready_events = [e["data"]["attachment_id"] for e in stored_events(stack_env, "attachment.ready", [watched])]
    to_503 = {s: ready.first(s, 503, stopped) for s in desk.urls}
    row.notes.append(
        "readiness 503 after "
        + ", ".join(f"{s} {seconds(t)}" for s, t in to_503.items())
        + f"; socket close codes {sorted(set(watcher.close_codes))}, connects {watcher.connects};"
        + f" uploads during the outage {[u.status_code for u in uploads]} -> {processed};"
        + f" slowest request {max((o.seconds for o in during), default=0):.2f}s"
    )

    assert not error_codes(during), f"ticket reads/writes failed while Redis was down: {dict(error_codes(during))}"
    assert row.hung == 0
    assert [u.status_code for u in uploads] == [201, 201], [u.text for u in uploads]
    assert processed == ["ready", "ready"], "tasks created during the outage were not processed after it"
    assert sorted(ready_events) == sorted(attachments), "attachment.ready must be announced exactly once per upload"
    assert 1013 in watcher.close_codes, f"the socket was not told (close codes {watcher.close_codes})"
    assert watcher.connects > connects_before, "the socket did not reconnect after Redis returned"
    for service in SERVICES:
        assert to_503[service] is not None and to_503[service] <= FAIL_FAST_SECONDS, (
            f"{service} readiness: 503 after {to_503[service]}s"
        )
    assert row.writes_found == row.writes_accepted
    assert row.events_lost == 0
    # The Celery workers may exit when Redis goes away under them (kombu's Redis transport raises
    # AttributeError: 'NoneType' object has no attribute 'hostname' while closing the channel,
    # celery/kombu#970 and #582, not fixed in kombu 5): supervisord restarts them and acks_late
    # tasks are redelivered. Nothing is lost (above); the web services and relays stay up.
    restarted = services_not_restarted(pids, process_pids(stack_env), may_restart=("worker", "events"))
    row.notes.append(f"Celery workers restarted by supervisord: {restarted or 'none'}")


@pytest.fixture
def fragile_worker(stack_env):
    """The file worker with slow processing (fault injection) and a 10 s visibility timeout, so a
    task held by a dead worker comes back within the test; restored afterwards."""
    fault_env = {"HDMS_FAULT_SLOW_PROCESSING_SECONDS": "3", "CELERY_VISIBILITY_TIMEOUT": "10"}
    processes("stop", "worker")
    processes("start", "worker", extra_env=fault_env)
    yield fault_env
    processes("stop", "worker")
    processes("start", "worker")


def test_a_worker_sigkilled_mid_task_redelivers_and_the_effect_happens_once(stack_env, desk, customer, fragile_worker):
    watched = desk.ticket(customer)["id"]
    row = Row("file worker SIGKILLed mid-task (whole process group)")
    REPORT.append(row)
    with SocketWatcher(desk, customer, watched) as watcher:
        with Load(desk, customer, watched) as load:
            started = time.monotonic()
            attachment = upload(desk, customer, watched, "scan.png", png(), "image/png").json()["id"]
            wait_status(desk, customer, attachment, {"processing"})
            worker = process_pids(stack_env)["worker"]
            os.killpg(worker, signal.SIGKILL)  # the main process and its pool: nothing can ack or requeue
            # No command: supervisord restarts it (natively; compose's restart: does in Docker).
            wait_for(lambda: (new := process_pids(stack_env)["worker"]) != worker and alive(new), timeout=10)
            status = wait_status(desk, customer, attachment, {"ready", "rejected"}, timeout=EVENT_GRACE_SECONDS)["status"]
            recovered = time.monotonic()
        check_writes_and_events(stack_env, load, watcher, row)
    summarise(row, load.between(started, recovered))
    announced = [e for e in stored_events(stack_env, "attachment.ready", [watched]) if e["data"]["attachment_id"] == attachment]
    on_socket = [e for e in watcher.events if e.get("type") == "attachment.ready"]
    row.notes.append(
        f"redelivered and ready {recovered - started:.1f}s after the upload; attachment.ready stored "
        f"{len(announced)}x, on the socket {len(on_socket)}x"
    )

    assert status == "ready"
    assert len(announced) == 1 and len(on_socket) == 1, "the effect (attachment.ready) must happen exactly once"
    assert row.hung == 0 and not error_codes(load.between(started, recovered))
    assert row.writes_found == row.writes_accepted and row.events_lost == 0
