"""Verify every connection of a running stack with real round-trips (scripts/verify-*.sh).

One line per check: ok / FAILED, latency, and on failure the reason and the likely fix.
`--json` prints one JSON document instead. Each check retries with bounded exponential backoff.
Exit code: 0 all ok; otherwise the first failed class: 2 configuration, 10 database,
11 cache, 12 broker, 13 channels, 14 health.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass

from django.core.exceptions import ImproperlyConfigured

from hdms_platform.conf.builders import pgbouncer_address, redis_urls
from hdms_platform.conf.catalogue import REDIS_KEY_PREFIX, SERVICES
from hdms_platform.conf.env import env

EXIT = {"config": 2, "db": 10, "cache": 11, "broker": 12, "channels": 13, "health": 14}
ATTEMPTS = 3


@dataclass
class Result:
    group: str
    name: str
    ok: bool
    latency_ms: float
    detail: str = ""
    fix: str = ""


def run_check(group: str, name: str, fn: Callable[[], str], fix: str) -> Result:
    delay = 0.1
    for attempt in range(1, ATTEMPTS + 1):
        started = time.perf_counter()
        try:
            detail = fn() or ""
            return Result(group, name, True, round((time.perf_counter() - started) * 1000, 1), detail)
        except Exception as exc:  # noqa: BLE001 - reported, with the fix
            latency = round((time.perf_counter() - started) * 1000, 1)
            reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:240]
            if attempt == ATTEMPTS:
                return Result(group, name, False, latency, reason, fix)
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


# -- database ----------------------------------------------------------------------------------


def db_checks() -> list[Result]:
    import psycopg

    host, port = pgbouncer_address()
    timeout = env.int("DB_CONNECT_TIMEOUT", 2)
    results = []
    for service in SERVICES:
        password = env.secret(f"{service.upper()}_DB_PASSWORD")

        def round_trip(service=service, password=password) -> str:
            marker = f"verify:{uuid.uuid4().hex}"
            with (
                psycopg.connect(
                    host=host,
                    port=port,
                    dbname=f"hdms_{service}",
                    user=f"hdms_{service}",
                    password=password,
                    connect_timeout=timeout,
                    prepare_threshold=None,
                ) as conn,
                conn.transaction(),
                conn.cursor() as cur,
            ):
                cur.execute("INSERT INTO hdms_health_probe (instance, checked_at) VALUES (%s, now())", [marker])
                cur.execute("SELECT count(*) FROM hdms_health_probe WHERE instance = %s", [marker])
                if cur.fetchone()[0] != 1:
                    raise RuntimeError("the row written was not read back")
                cur.execute("DELETE FROM hdms_health_probe WHERE instance = %s", [marker])
            return f"hdms_{service} via PgBouncer {host}:{port}: write, read back, delete"

        results.append(
            run_check(
                "db",
                service,
                round_trip,
                f"is PgBouncer up on {host}:{port} (PGBOUNCER_PORT), {service.upper()}_DB_PASSWORD right, migrations applied (make up)?",
            )
        )

    def pools() -> str:
        with (
            psycopg.connect(
                host=host,
                port=port,
                dbname="pgbouncer",
                user=env.str("PGBOUNCER_ADMIN_USER", "hdms_pgbouncer"),
                password=env.secret("PGBOUNCER_ADMIN_PASSWORD"),
                connect_timeout=timeout,
                autocommit=True,
                cursor_factory=psycopg.ClientCursor,
            ) as conn,
            conn.cursor() as cur,
        ):
            cur.execute("SHOW POOLS")
            columns = [c.name for c in cur.description]
            rows = [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
        app = [r for r in rows if str(r["database"]).startswith("hdms_")]
        return (
            "; ".join(
                f"{r['database']}/{r['user']} {r['pool_mode']} cl_active={r['cl_active']} cl_waiting={r['cl_waiting']} "
                f"sv_active={r['sv_active']} sv_idle={r['sv_idle']}"
                for r in app
            )
            or "no pools yet"
        )

    results.append(
        run_check("db", "pgbouncer-pools", pools, "PGBOUNCER_ADMIN_USER / PGBOUNCER_ADMIN_PASSWORD must match PgBouncer's")
    )
    return results


# -- cache -------------------------------------------------------------------------------------


def _redis(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def cache_checks() -> list[Result]:
    url = redis_urls()["cache"]
    results = []
    for service in SERVICES:

        def round_trip(service=service) -> str:
            client = _redis(url)
            key = f"{REDIS_KEY_PREFIX['cache']}{service}:verify:{uuid.uuid4().hex}"
            client.set(key, "1", px=200)
            if client.get(key) != b"1":
                raise RuntimeError("the value written was not read back")
            if client.pttl(key) <= 0:
                raise RuntimeError("the key has no TTL")
            deadline = time.monotonic() + 2
            while client.exists(key):
                if time.monotonic() > deadline:
                    raise RuntimeError("the key did not expire")
                time.sleep(0.05)
            db = client.connection_pool.connection_kwargs.get("db", 0)
            return f"db {db}: set with TTL, read back, expired"

        results.append(
            run_check(
                "cache",
                service,
                round_trip,
                "is Redis up (REDIS_HOST/REDIS_PORT), REDIS_CACHE_PASSWORD right, REDIS_CACHE_URL valid?",
            )
        )
    return results


# -- broker ------------------------------------------------------------------------------------


def broker_checks() -> list[Result]:
    from celery import Celery

    url = redis_urls()["broker"]

    def round_trip() -> str:
        app = Celery("hdms_verify", broker=url, backend=url)
        app.conf.update(
            broker_transport_options={"global_keyprefix": REDIS_KEY_PREFIX["broker"]},
            result_backend_transport_options={"global_keyprefix": REDIS_KEY_PREFIX["broker"]},
            task_serializer="json",
            accept_content=["json"],
            result_serializer="json",
            broker_connection_retry_on_startup=False,
            broker_connection_max_retries=1,
        )
        nonce = uuid.uuid4().hex
        result = app.send_task("hdms.file.ping", args=[nonce], queue="hdms.file")
        value = result.get(timeout=5)
        if value != f"pong:{nonce}":
            raise RuntimeError(f"the worker answered {value!r}")
        return "task hdms.file.ping on queue hdms.file processed by a worker"

    return [run_check("broker", "celery", round_trip, "is the Celery worker running (make up) and CELERY_BROKER_URL right?")]


# -- channels ----------------------------------------------------------------------------------


def mint_verify_token() -> str:
    """A 60-second access token for a synthetic agent, signed with the private key."""
    import jwt

    from hdms_platform.auth.tokens import ALGORITHM, AUDIENCE, ISSUER, private_key

    now = int(time.time())
    claims = {
        "sub": str(uuid.uuid4()),
        "email": "verify@hdms.invalid",
        "roles": ["agent"],
        "typ": "access",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, private_key(), algorithm=ALGORITHM)


def channels_checks() -> list[Result]:
    import websockets

    from hdms_platform.events.channel_layer import standalone
    from hdms_platform.events.contracts import group_message, ticket_group

    port = env.port("COMMUNICATION_SERVICE_PORT", 8003)

    async def round_trip() -> str:
        ticket_id = uuid.uuid4()
        token = mint_verify_token()
        url = f"ws://127.0.0.1:{port}/ws/tickets/{ticket_id}/"
        async with websockets.connect(url, subprotocols=["hdms", f"access_token.{token}"], open_timeout=3) as ws:
            layer = standalone("communication")
            event = {
                "id": str(uuid.uuid4()),
                "type": "verify.ping",
                "ticket_id": str(ticket_id),
                "audience": "everyone",
                "occurred_at": "",
                "data": {},
            }
            try:
                for _ in range(20):  # the group join may land a moment after the handshake
                    await layer.group_send(ticket_group(ticket_id), group_message(event))
                    try:
                        received = json.loads(await asyncio.wait_for(ws.recv(), timeout=0.25))
                        break
                    except TimeoutError:
                        continue
                else:
                    raise RuntimeError("no broadcast reached the socket within 5 s")
            finally:
                await layer.flush()
        if received.get("id") != event["id"]:
            raise RuntimeError("the socket received a different event")
        return f"broadcast on db 1 reached a WebSocket client of communication-service :{port}"

    return [
        run_check(
            "channels",
            "websocket",
            lambda: asyncio.run(round_trip()),
            f"is communication-service up on COMMUNICATION_SERVICE_PORT={port}, CHANNEL_LAYER_URL right, JWT keys a pair?",
        )
    ]


# -- health ------------------------------------------------------------------------------------


def health_checks() -> list[Result]:
    import httpx

    results = []
    for service in SERVICES:
        port = env.port(f"{service.upper()}_SERVICE_PORT", 8001 + SERVICES.index(service))

        def ready(port=port) -> str:
            response = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=3)
            body = response.json()
            failed = [name for name, check in body.get("checks", {}).items() if not check.get("ok")]
            if response.status_code != 200 or failed:
                raise RuntimeError(f"HTTP {response.status_code}, failed: {', '.join(failed) or '?'}")
            lag = body["checks"].get("lag", {})
            timings = ", ".join(f"{name} {check['latency_ms']} ms" for name, check in body["checks"].items())
            return timings + (f" (degraded: events wait {lag.get('lag_seconds')} s)" if lag.get("degraded") else "")

        results.append(
            run_check("health", service, ready, f"is {service}-service up on {service.upper()}_SERVICE_PORT={port} (make up)?")
        )
    return results


GROUPS = {"db": db_checks, "cache": cache_checks, "broker": broker_checks, "channels": channels_checks, "health": health_checks}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hdms-verify")
    parser.add_argument("groups", nargs="*", choices=[*GROUPS, []], default=list(GROUPS))
    parser.add_argument("--json", action="store_true", help="one JSON document for CI")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results: list[Result] = []
    try:
        for group in args.groups or list(GROUPS):
            for result in GROUPS[group]():
                results.append(result)
                if not args.json:
                    mark = "ok    " if result.ok else "FAILED"
                    line = f"{mark} {result.group + '/' + result.name:<22} {result.latency_ms:8.1f} ms  {result.detail}"
                    if not result.ok:
                        line += f"\n       fix: {result.fix}"
                    print(line, flush=True)
    except ImproperlyConfigured as exc:
        print(json.dumps({"ok": False, "error": str(exc)}) if args.json else f"FAILED configuration: {exc}")
        return EXIT["config"]
    failed = [r for r in results if not r.ok]
    elapsed = round(time.perf_counter() - started, 2)
    if args.json:
        print(json.dumps({"ok": not failed, "seconds": elapsed, "checks": [asdict(r) for r in results]}, indent=2))
    else:
        print(f"{len(results) - len(failed)} passed, {len(failed)} failed  ({elapsed} s)")
    return EXIT[failed[0].group] if failed else 0


if __name__ == "__main__":
    sys.exit(main())
