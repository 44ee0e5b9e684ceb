"""Cache policies and counters.

TTLs come from named policies, never bare numbers at call sites, and never 'no expiry': every
key carries a TTL, so Redis's volatile-lru policy can evict cache keys and never broker data.
A cache outage degrades to the database: django-redis ignores the error, logs it on
`hdms.cache.ignored`, and DegradedCacheCounter counts it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from enum import IntEnum

from django_redis.serializers.json import JSONSerializer

logger = logging.getLogger("hdms.cache")


class TTL(IntEnum):
    SHORT = 5 * 60  # fast-changing data: ticket lists, detail pages
    MEDIUM = 60 * 60  # slow-changing data: user profiles, access decisions
    LONG = 24 * 60 * 60  # near-static data: public keys, reference data


_lock = threading.Lock()
counters: Counter[str] = Counter()


def count(name: str, amount: int = 1) -> None:
    with _lock:
        counters[name] += amount


def snapshot() -> dict[str, int]:
    with _lock:
        return dict(counters)


class DegradedCacheCounter(logging.Handler):
    """Counts the cache errors django-redis ignored (the request went on to the database)."""

    def emit(self, record: logging.LogRecord) -> None:
        count("cache_errors_ignored")


def get_or_load(key: str, *, ttl: TTL, load, name: str):
    """Cache-aside read: the cached value, or `load()` stored under `key` for the policy's TTL.

    Counts `<name>_hit` / `<name>_miss` (shown by /health/ready). With Redis down, get() answers
    None and set() is ignored, so every read is a miss served from the database.
    """
    from django.core.cache import cache

    value = cache.get(key)
    if value is not None:
        count(f"{name}_hit")
        return value
    count(f"{name}_miss")
    value = load()
    cache.set(key, value, timeout=int(ttl))
    return value


class SafeJSONSerializer(JSONSerializer):
    """JSON in, JSON out: nothing read from Redis is ever unpickled (Django's and django-redis'
    default is pickle, so anyone able to write a cache key could run code in every service).

    A value that is not our JSON (planted, truncated, or from an older release) reads as a miss,
    logged and counted, instead of failing the request.
    """

    def loads(self, value: bytes):
        try:
            return json.loads(value.decode())
        except (UnicodeDecodeError, ValueError):
            logger.warning("unreadable cache value (%d bytes) ignored: not JSON", len(value))
            count("cache_unreadable")
            return None
