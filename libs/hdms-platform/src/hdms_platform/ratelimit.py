"""Fixed-window rate limits counted in Redis (the cache role), shared by every worker process.

A limit is a name, a number of hits and a window. Keys carry the window's TTL, so nothing
outlives it. When Redis is unreachable the limiter *fails open* (the request goes on and the
miss is counted as `ratelimit_unavailable`): a cache outage must not lock every user out, and
the password hasher still bounds how fast anyone can guess.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.core.cache import cache

from .cache import count


@dataclass(frozen=True)
class Limit:
    name: str
    hits: int
    window: int  # seconds

    def key(self, subject: str) -> str:
        digest = hashlib.sha256(subject.encode()).hexdigest()[:32]  # never store raw emails or addresses as keys
        return f"ratelimit:{self.name}:{int(time.time()) // self.window}:{digest}"

    def retry_after(self) -> int:
        return self.window - int(time.time()) % self.window


def hits(limit: Limit, subject: str) -> int | None:
    """Hits so far in this window; None when Redis cannot say."""
    value = cache.get(limit.key(subject))
    return None if value is None else int(value)


def exceeded(limit: Limit, subject: str) -> bool:
    current = hits(limit, subject)
    return current is not None and current >= limit.hits


def hit(limit: Limit, subject: str) -> int | None:
    """Count one hit; returns the new count, or None when Redis is unreachable (fail open)."""
    key = limit.key(subject)
    cache.add(key, 0, timeout=limit.window + 1)
    try:
        value = cache.incr(key)
    except ValueError:  # the key vanished (or Redis is down and add() was ignored)
        value = None
    if value is None:
        count("ratelimit_unavailable")
    return value


def reset(limit: Limit, subject: str) -> None:
    cache.delete(limit.key(subject))
