"""One long-lived asyncio loop per process, for sync code that must await (the events worker's
broadcasts on the Channels layer).

asgiref's `async_to_sync`, called outside any loop, runs each call on a new loop; channels-redis
keeps its Redis connections per loop, so every broadcast opened and authenticated a new connection
(py-spy: about a quarter of the events worker's time per event). Here the loop runs in a daemon
thread for the life of the process (started on first use, and again in a forked child), so the
layer's connections are reused. Written here: asgiref has no persistent-loop variant, and this is
the 20 lines it takes. Not for code already running in a loop (the socket consumers await directly).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_pid: int | None = None


def _running_loop() -> asyncio.AbstractEventLoop:
    global _loop, _pid
    with _lock:
        if _loop is None or _pid != os.getpid():  # a forked child inherits the object, not the thread
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="hdms-loop", daemon=True).start()
            _pid = os.getpid()
        return _loop


def run(coroutine: Coroutine[Any, Any, Any], timeout: float) -> Any:
    """Run `coroutine` on the process's loop and wait for its result, at most `timeout` seconds
    (then it is cancelled and TimeoutError raised)."""
    future = asyncio.run_coroutine_threadsafe(coroutine, _running_loop())
    try:
        return future.result(timeout)
    except TimeoutError:
        future.cancel()
        raise
