"""Cache policies and counters.

TTLs come from named policies, never bare numbers at call sites, and never 'no expiry': every
key carries a TTL, so Redis's volatile-lru policy can evict cache keys and never broker data.
A cache outage degrades to the database: django-redis ignores the error, logs it on
`hdms.cache.ignored`, and DegradedCacheCounter counts it. Hits, misses and errors are Prometheus
counters (hdms_platform.observability.instruments), summed over every worker process at /metrics.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django_redis.serializers.json import JSONSerializer

from hdms_platform.conf.ttl import TTL
from hdms_platform.observability.instruments import CACHE_ERRORS, CACHE_REQUESTS

if TYPE_CHECKING:
    from hdms_platform.cache.copies import TrackedCopies

logger = logging.getLogger("hdms.cache")


def count(policy: str, hit: bool) -> None:
    _requests(policy, "hit" if hit else "miss").inc()


@functools.cache
def _requests(policy: str, result: str) -> Any:
    """One labelled counter per policy and result, looked up once (labels() takes a lock and
    validates every call: a measurable share of a hit answered from memory)."""
    return CACHE_REQUESTS.labels(policy, result)


class DegradedCacheCounter(logging.Handler):
    """Counts the cache errors django-redis ignored (the request went on to the database)."""

    def emit(self, record: logging.LogRecord) -> None:
        CACHE_ERRORS.labels("ignored").inc()


def get_or_load(key: str, *, ttl: TTL, load: Callable[[], Any], name: str, copies: TrackedCopies | None = None) -> Any:
    """Cache-aside read: the cached value, or `load()` stored under `key` for the policy's TTL.

    With `copies` (hdms_platform.cache.copies), this process's copy comes first: a hit there makes no
    round trip, and what Redis answers is kept as the copy unless the key changed meanwhile.
    Counts a hit or a miss of policy `name` (hdms_cache_requests_total). With Redis down, get()
    answers None and set() is ignored, so every read is a miss served from the database.
    """
    from django.core.cache import cache

    def from_redis() -> Any:
        value = cache.get(key)
        count(name, hit=value is not None)
        if value is None:
            value = load()
            cache.set(key, value, timeout=int(ttl))
        return value

    if copies is None:
        return from_redis()
    value, copied = copies.read_through(cache.make_key(key), from_redis)
    if copied:
        count(name, hit=True)
    return value


def from_copy(key: str, *, copies: TrackedCopies | None) -> Any | None:
    """This process's copy of `key` (hdms_platform.cache.copies), or None when it holds none. Touches
    nothing but memory: no round trip, nothing to fail. Counting the hit is the caller's, once it
    answers with the value (`count`)."""
    from django.core.cache import cache

    return copies.get(cache.make_key(key)) if copies is not None else None


class SafeJSONSerializer(JSONSerializer):  # type: ignore[misc]  # django-redis ships no types
    """JSON in, JSON out: nothing read from Redis is ever unpickled (Django's and django-redis'
    default is pickle, so anyone able to write a cache key could run code in every service).

    A value that is not our JSON (planted, truncated, or from an older release) reads as a miss,
    logged and counted, instead of failing the request.
    """

    def loads(self, value: bytes) -> Any:
        try:
            return json.loads(value.decode())
        except (UnicodeDecodeError, ValueError):
            logger.warning("unreadable cache value (%d bytes) ignored: not JSON", len(value))
            CACHE_ERRORS.labels("unreadable").inc()
            return None
