"""One fan-out load client: a process holding a share of the bench's WebSocket subscribers.

bench/scenarios/fanout.py starts several of these (separate processes from the server and from each other,
so one client's event loop is not the bottleneck being measured) and talks to each over its
standard streams:

    client -> bench   `ready` once every socket is open
    bench -> client   `sent <n>` once the publisher is done: n events were sent
    client -> bench   one JSON line: (sent at, latency ms) per delivery, per-socket counts, its CPU seconds

    python bench/fanout_client.py <ws url> <token> <sockets>

The sockets speak WebSocket through websockets' sans-I/O protocol driven straight from an asyncio
Protocol: each arriving frame is handled in the transport's callback. The library's asyncio client
wakes a task per socket per message (futures, a queue, an async iterator); on these 2 cores that was
the client's largest cost, taken from the server it measures (docs/performance-profiles.md). The
protocol still parses and checks every frame, answers pings and closes cleanly.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time

import uvloop
from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

TICK = "bench.tick"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Subscriber(asyncio.Protocol):
    """One socket. `latencies` is shared by every subscriber of the process."""

    def __init__(self, url: str, protocols: list[str], latencies: list[tuple[float, float]]) -> None:
        self.ws = ClientProtocol(parse_uri(url), subprotocols=protocols, max_size=None)
        self.latencies = latencies
        self.count = 0
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.ws.send_request(self.ws.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        received = time.time()
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Response):
                if self.ws.handshake_exc is not None:
                    self.opened.set_exception(self.ws.handshake_exc)
                else:
                    self.opened.set_result(None)
            elif event.opcode is Opcode.TEXT:
                message = json.loads(event.data)
                if message.get("type") == TICK and not message["data"].get("warmup"):
                    sent_at = message["data"]["sent_at"]
                    self.latencies.append((sent_at, (received - sent_at) * 1000))
                    self.count += 1
        self._flush()  # pongs, and the close handshake's answer

    def _flush(self) -> None:
        for chunk in self.ws.data_to_send():
            if chunk:
                self.transport.write(chunk)
            elif self.transport.can_write_eof():
                self.transport.write_eof()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.ws.send_close()
            self._flush()
            self.transport.close()


async def open_socket(url: str, protocols: list[str], latencies: list) -> Subscriber:
    uri = parse_uri(url)
    loop = asyncio.get_running_loop()
    _, subscriber = await loop.create_connection(lambda: Subscriber(url, protocols, latencies), uri.host, uri.port)
    await asyncio.wait_for(subscriber.opened, 60)
    return subscriber


async def main(url: str, token: str, count: int) -> None:
    protocols = ["hdms", f"access_token.{token}"]
    latencies: list[tuple[float, float]] = []  # (sent at, ms to arrive)
    sockets: list[Subscriber] = []
    for start in range(0, count, 100):  # connect in waves, as a crowd of browsers would
        sockets += await asyncio.gather(*(open_socket(url, protocols, latencies) for _ in range(start, min(count, start + 100))))
    cpu_before = cpu_seconds()
    print("ready", flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)  # "sent <n>"
    expected = int(line.split()[1]) * count
    deadline = time.monotonic() + 15  # stragglers: wait until every delivery arrived, at most 15 s
    while sum(s.count for s in sockets) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    cpu = cpu_seconds() - cpu_before
    for subscriber in sockets:
        subscriber.close()
    counts = [s.count for s in sockets]
    print(json.dumps({"latencies": latencies, "counts": counts, "cpu_seconds": cpu}), flush=True)


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))  # the loop uvicorn serves with
