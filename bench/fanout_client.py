"""One fan-out load client: a process holding a share of the bench's WebSocket subscribers.

bench/run.py starts several of these (separate processes from the server and from each other,
so one client's event loop is not the bottleneck being measured) and talks to each over its
standard streams:

    client -> bench   `ready` once every socket is open
    bench -> client   `sent <n>` once the publisher is done: n events were sent
    client -> bench   one JSON line: (sent at, latency ms) per delivery, per-socket counts, its CPU seconds

    python bench/fanout_client.py <ws url> <token> <sockets>
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time

import uvloop
from websockets.asyncio.client import connect

TICK = "bench.tick"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def main(url: str, token: str, count: int) -> None:
    protocols = ["hdms", f"access_token.{token}"]
    sockets = []
    for start in range(0, count, 100):  # connect in waves, as a crowd of browsers would
        sockets += await asyncio.gather(
            *(
                connect(url, subprotocols=protocols, open_timeout=60, max_queue=None)
                for _ in range(start, min(count, start + 100))
            )
        )
    latencies: list[tuple[float, float]] = []  # (sent at, ms to arrive)
    counts = [0] * count

    async def listen(index: int, ws) -> None:
        async for raw in ws:
            received = time.time()
            message = json.loads(raw)
            if message.get("type") == TICK and not message["data"].get("warmup"):
                sent_at = message["data"]["sent_at"]
                latencies.append((sent_at, (received - sent_at) * 1000))
                counts[index] += 1

    listeners = [asyncio.create_task(listen(i, ws)) for i, ws in enumerate(sockets)]
    cpu_before = cpu_seconds()
    print("ready", flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)  # "sent <n>"
    expected = int(line.split()[1]) * count
    deadline = time.monotonic() + 15  # stragglers: wait until every delivery arrived, at most 15 s
    while sum(counts) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    cpu = cpu_seconds() - cpu_before
    for task in listeners:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    print(json.dumps({"latencies": latencies, "counts": counts, "cpu_seconds": cpu}), flush=True)


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))  # the loop uvicorn serves with
