"""Per-process copies of hot cache entries, dropped the moment Redis says their key changed.

Why: a cached ticket detail still cost a Redis round trip per request, the largest part of what
separated it from the bare Django view (docs/performance-profiles.md). redis-py's own client-side
caching needs Redis >= 7.4 (Debian 12 ships 7.0), so this is the Redis 7.0 way of doing it: one
connection per process runs `CLIENT TRACKING ON REDIRECT <itself> BCAST PREFIX <prefix>` and
subscribes to `__redis__:invalidate` (RESP2), in a daemon thread; Redis then names every key under
the prefix that is written, deleted, expired or evicted, by any client.

Safety, in order of importance:
- copies are used only while that connection is up and tracking; when it drops, every copy goes
  and reads go to Redis until tracking is back (nothing is known about the gap);
- a value read from Redis is kept only if no invalidation arrived since the read began (a
  generation counter): a write racing the read cannot leave a stale copy behind;
- a copy lives at most `max_age` seconds, and there are at most `max_entries` of them;
- a key this process changes is dropped at once (`drop`); another process's change reaches this
  one as fast as Redis' message does (well under a millisecond on one host), the only window in
  which a copy can be older than Redis.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import redis
from redis.client import PubSub

logger = logging.getLogger("hdms.cache")
INVALIDATIONS = "__redis__:invalidate"


class _TrackingPubSub(PubSub):
    """A subscriber whose connection first asks Redis to track the prefix, on every (re)connect.

    Copies are allowed only once Redis has *acknowledged* the SUBSCRIBE (the listener sees the
    confirmation): a RESP2 redirect target that is not subscribed yet does not get the
    invalidations, so a copy kept between TRACKING ON and that acknowledgement could miss its
    key's change and stay stale for max_age."""

    prefix: str
    on_untracked: Callable[[], None]

    def on_connect(self, connection: Any) -> None:
        self.on_untracked()  # a new connection: nothing is known until it is subscribed again
        connection.send_command("CLIENT", "ID")
        client_id = connection.read_response()
        connection.send_command("CLIENT", "TRACKING", "ON", "REDIRECT", client_id, "BCAST", "PREFIX", self.prefix)
        connection.read_response()
        super().on_connect(connection)  # subscribes again after a reconnect


class TrackedCopies:
    def __init__(self, url: str, prefix: str, *, max_entries: int = 4096, max_age: float = 60.0) -> None:
        self.url, self.prefix, self.max_entries, self.max_age = url, prefix, max_entries, max_age
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0
        self._tracking = False
        self._pid: int | None = None

    # -- reads ----------------------------------------------------------------------------------

    def get(self, key: str) -> Any | None:
        """The process's copy of `key`, or None (none, too old, or tracking is not up)."""
        self._ensure_listener()
        with self._lock:
            if not self._tracking:
                return None
            entry = self._entries.get(key)
            if entry is None:
                return None
            if time.monotonic() - entry[0] > self.max_age:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def read_through(self, key: str, read: Callable[[], Any]) -> tuple[Any, bool]:
        """(value, whether it was this process's copy): the copy, else `read()` (from Redis),
        kept as the copy unless anything under the prefix changed while it ran."""
        value = self.get(key)
        if value is not None:
            return value, True
        since = self.generation()
        value = read()
        self.keep(key, value, since=since)
        return value, False

    def generation(self) -> int:
        """Take before reading `key` from Redis; pass to keep()."""
        with self._lock:
            return self._generation

    def keep(self, key: str, value: Any, *, since: int) -> None:
        """A copy of what Redis answered, unless anything under the prefix changed since `since`."""
        with self._lock:
            if not self._tracking or self._generation != since or value is None:
                return
            self._entries[key] = (time.monotonic(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    # -- invalidation ----------------------------------------------------------------------------

    def drop(self, key: str) -> None:
        """This process changed `key`: its copy goes now, not when Redis' message arrives (a
        request that writes and the next one reading through the same process see the write)."""
        with self._lock:
            self._generation += 1
            self._entries.pop(key, None)

    def _forget(self, keys: list[bytes] | None, *, tracking: bool) -> None:
        with self._lock:
            self._generation += 1
            self._tracking = tracking
            if keys is None:  # FLUSHDB/FLUSHALL, or the connection (re)started: nothing is known
                self._entries.clear()
            else:
                for key in keys:
                    self._entries.pop(key.decode(), None)

    def _ensure_listener(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():  # another thread started it meanwhile
                return
            self._pid, self._tracking = os.getpid(), False  # a forked child starts its own
            self._entries.clear()
        threading.Thread(target=self._listen, name="hdms-cache-tracking", daemon=True).start()

    def _listen(self) -> None:
        failures = 0  # in a row: the retry backs off to 30 s and says so once, not every second
        while True:
            try:
                client = redis.Redis.from_url(self.url, protocol=2, socket_timeout=None, socket_connect_timeout=2)
                pubsub = _TrackingPubSub(client.connection_pool)
                pubsub.prefix = self.prefix
                pubsub.on_untracked = lambda: self._forget(None, tracking=False)
                # redis-py runs on_connect on *re*connects only: the first connection is done here
                connection = client.connection_pool.get_connection()
                connection.register_connect_callback(pubsub.on_connect)  # type: ignore[no-untyped-call]
                pubsub.connection = connection  # type: ignore[assignment]  # typed as None in redis-py
                pubsub.on_connect(connection)
                pubsub.subscribe(INVALIDATIONS)
                failures = 0
                while True:
                    message = pubsub.get_message(timeout=5.0)
                    if not message:
                        continue
                    if message["type"] == "subscribe":  # acknowledged: from now on every change is heard
                        self._forget(None, tracking=True)
                    elif message["type"] == "message" and self._tracking:
                        self._forget(message["data"], tracking=True)
            except Exception as exc:  # noqa: BLE001 - any failure: no copies until tracking is back
                self._forget(None, tracking=False)
                failures += 1
                if failures == 1:
                    logger.warning("cache tracking lost (%s: %s); reading Redis until it is back", type(exc).__name__, exc)
                time.sleep(min(30.0, 0.5 * 2**failures))
