"""Cache policies and counters.

TTLs come from named policies, never bare numbers at call sites, and never 'no expiry': every
key carries a TTL, so Redis's volatile-lru policy can evict cache keys and never broker data.
A cache outage degrades to the database: django-redis ignores the error, logs it on
`hdms.cache.ignored`, and DegradedCacheCounter counts it.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from enum import IntEnum


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
