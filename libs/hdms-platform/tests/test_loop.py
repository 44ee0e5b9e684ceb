"""hdms_platform.events.loop: one long-lived loop per process for sync code that awaits."""

import asyncio
import os

import pytest

from hdms_platform.events import loop


async def _which_loop():
    return asyncio.get_running_loop()


def test_every_call_runs_on_the_same_loop_so_per_loop_connections_are_reused():
    first, second = loop.run(_which_loop(), timeout=2), loop.run(_which_loop(), timeout=2)
    assert first is second and first.is_running()


def test_a_call_past_its_timeout_raises_and_is_cancelled():
    cancelled = asyncio.Event()

    async def stuck():
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError):
        loop.run(stuck(), timeout=0.2)
    assert loop.run(asyncio.wait_for(cancelled.wait(), 2), timeout=3) is True


def test_a_forked_child_gets_its_own_running_loop():
    parent = loop.run(_which_loop(), timeout=2)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's loop thread did not survive the fork
        ok = loop.run(_which_loop(), timeout=2) is not parent
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
