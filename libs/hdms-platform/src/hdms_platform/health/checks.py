"""Readiness checks: each a real round-trip, each bounded, each timed.

Why not django-health-check: its database probe writes through its own model per plugin, its
Redis and Celery plugins are not bounded by one deadline for the whole report, and it has no
channel-layer check; what we need (one JSON map, per-dependency latency, 503 naming the failed
dependency, a ~2 s bound on the whole answer) is ~100 lines here, shared by all four services.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import redis
from django.conf import settings
from django.db import connections, transaction
from django.utils.module_loading import import_string

from hdms_platform.conf.catalogue import REDIS_KEY_PREFIX

# Import the clients once, here, in the importing thread: concurrent first imports from the
# check threads deadlock in importlib (redis' modules import each other).
for _module in ("redis", "redis.asyncio", "django_redis.cache", "django_redis.client", "channels_redis.pubsub"):
    with contextlib.suppress(ImportError):
        importlib.import_module(_module)

logger = logging.getLogger("hdms.health")
DEADLINE_SECONDS = 2.0
INSTANCE = f"{socket.gethostname()}:{os.getpid()}"
_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="readiness")


def check_database() -> None:
    """A write through PgBouncer, in one transaction, with a statement timeout scoped to it."""
    with transaction.atomic(using="default"), connections["default"].cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = '1500ms'")
        cursor.execute(
            "INSERT INTO hdms_health_probe (instance, checked_at) VALUES (%s, now()) "
            "ON CONFLICT (instance) DO UPDATE SET checked_at = excluded.checked_at",
            [INSTANCE],
        )


def check_cache() -> None:
    from django.core.cache import cache

    client = cache.client.get_client(write=True)  # type: ignore[attr-defined]  # django-redis' raw client raises; the cache API would not
    key = cache.make_key(f"health:{uuid.uuid4().hex}")
    client.set(key, b"1", ex=10)
    if client.get(key) != b"1":
        raise RuntimeError("cache read back a different value")
    client.delete(key)


_broker_client = None


def broker_client() -> redis.Redis:
    """A plain Redis client on the broker role, bounded, shared by this process' checks."""
    import redis

    global _broker_client
    if _broker_client is None:
        _broker_client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL, socket_timeout=1.5, socket_connect_timeout=1.5, health_check_interval=0
        )
    return _broker_client


def check_broker() -> None:
    client = broker_client()
    key = f"{REDIS_KEY_PREFIX['broker']}health:{uuid.uuid4().hex}"
    client.set(key, "1", ex=10)
    if client.get(key) != b"1":
        raise RuntimeError("broker read back a different value")
    client.delete(key)


def check_channel_layer() -> None:
    from channels.layers import channel_layers

    async def round_trip() -> None:
        layer = channel_layers.make_backend("default")
        try:
            channel = await layer.new_channel()
            await layer.send(channel, {"type": "health.probe"})
            message = await asyncio.wait_for(layer.receive(channel), timeout=1.5)
            if message.get("type") != "health.probe":
                raise RuntimeError("channel layer delivered a different message")
        finally:
            await layer.flush()

    asyncio.run(round_trip())


def check_lag() -> dict[str, Any]:
    """How far behind this service's background pipeline is: settings.HDMS_LAG_PROBE returns
    `lag_seconds` (and counts); over READINESS_LAG_SECONDS the answer is `degraded`. Never a
    failure: a lagging relay or events worker is no reason to take the service out of rotation, and
    a probe that cannot tell (its database or broker is down: their own checks fail) degrades."""
    try:
        found = import_string(settings.HDMS_LAG_PROBE)()
    except Exception as exc:  # noqa: BLE001 - reported as degraded, the reason logged
        logger.warning("readiness: the lag probe failed: %s: %s", type(exc).__name__, exc)
        return {"lag_seconds": None, "degraded": True, "error": "unavailable"}
    return {**found, "degraded": found["lag_seconds"] > settings.READINESS_LAG_SECONDS}


CHECKS = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
    "channel_layer": check_channel_layer,
    "lag": check_lag,
}


def _timed(check: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
    """One check, in a pool thread. Whatever database connection it opened is closed when it ends:
    no request signal cleans up these long-lived threads, and a connection kept there goes stale
    when PgBouncer restarts, failing that thread's next probe."""
    started = time.perf_counter()
    try:
        found = check() or {}
        return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 1), **found}
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none is raised
        return {
            "ok": False,
            "latency_ms": round((time.perf_counter() - started) * 1000, 1),
            "error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:300],
        }
    finally:
        connections.close_all()


def run_readiness(names: list[str], deadline: float = DEADLINE_SECONDS) -> dict[str, dict[str, Any]]:
    started = time.monotonic()
    futures = {name: _pool.submit(_timed, CHECKS[name]) for name in names}
    results = {}
    for name, future in futures.items():
        remaining = max(0.0, deadline - (time.monotonic() - started))
        try:
            results[name] = future.result(timeout=remaining)
        except FutureTimeout:
            results[name] = {"ok": False, "latency_ms": round(deadline * 1000, 1), "error": f"timed out after {deadline:.1f}s"}
    return results
