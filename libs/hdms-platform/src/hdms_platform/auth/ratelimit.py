"""Fixed-window rate limits, counted in PostgreSQL and shared by every worker process.

A limit is a name, a number of hits and a window. `hit()` counts first and returns the new
count in one atomic statement (an upsert), so callers decide on the count they were given: N
parallel requests get the numbers 1..N and at most `hits` of them are let through.

Why PostgreSQL and not Redis: the counters guard sign-in, and the cache role evicts under
memory pressure (volatile-lru), which anyone who can fill the cache (distinct list queries)
could use to reset them. A counter is one small row; expired rows are purged as hits arrive.
"""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection

from hdms_platform.models import RateCounter
from hdms_platform.observability.instruments import RATELIMIT_DECISIONS

PURGE_ONE_IN = 100  # every ~100th hit deletes the expired rows (a few per window and subject)


@dataclass(frozen=True)
class Limit:
    name: str
    hits: int
    window: int  # seconds

    def key(self, subject: str) -> str:
        digest = hashlib.sha256(subject.encode()).hexdigest()[:32]  # never store raw emails or addresses
        return f"{self.name}:{int(time.time()) // self.window}:{digest}"

    def retry_after(self) -> int:
        return self.window - int(time.time()) % self.window

    def expires_at(self) -> datetime:
        return datetime.fromtimestamp((int(time.time()) // self.window + 1) * self.window, tz=UTC)


def hit(limit: Limit, subject: str) -> int:
    """Count one hit and return the count including it (1 for the window's first)."""
    table = RateCounter._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (key, hits, expires_at) VALUES (%s, 1, %s) "
            f"ON CONFLICT (key) DO UPDATE SET hits = {table}.hits + 1 RETURNING hits",
            [limit.key(subject), limit.expires_at()],
        )
        (count,) = cursor.fetchone()
        count = int(count)
        if random.randrange(PURGE_ONE_IN) == 0:
            cursor.execute(f"DELETE FROM {table} WHERE expires_at < now()")
    return count


def over(limit: Limit, subject: str) -> bool:
    """Count one hit; True when it is past the limit (the caller refuses it)."""
    limited = hit(limit, subject) > limit.hits
    RATELIMIT_DECISIONS.labels(limit.name, "limited" if limited else "allowed").inc()
    return limited


def reset(limit: Limit, subject: str) -> None:
    RateCounter.objects.filter(key=limit.key(subject)).delete()
