"""The events pipeline: outbox row to socket, a burst's drain and a steady rate's latency."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from bench.measure import log, percentile
from bench.stack import Bench


def events_pipeline(bench: Bench) -> dict:
    """Events from an outbox row to a socket, through ticket-service's relay and the one events
    worker: the ceiling (a burst of rows committed at once, drained as fast as the pipeline goes)
    and the latency at a steady, helpdesk-like rate (one row per transaction)."""
    from websockets.asyncio.client import connect

    burst, rate, seconds = (100, 10, 1) if bench.args.smoke else (1000, 20, bench.args.seconds)
    url = f"ws://127.0.0.1:{bench.ports['communication']}/ws/tickets/{bench.ticket_id}/"
    received: dict[str, float] = {}

    def insert(phase: str, numbers: range) -> float:
        rows = []
        for n in numbers:
            event_id, sent_at = str(uuid.uuid4()), time.time()
            payload = {
                "id": event_id,
                "type": "bench.pipeline",
                "ticket_id": bench.ticket_id,
                "audience": "everyone",
                "occurred_at": "",
                "data": {"key": f"{phase}-{n}", "sent_at": sent_at},
            }
            rows.append((event_id, bench.ticket_id, json.dumps(payload)))
        with bench.db("ticket") as conn:  # one transaction: committed on leaving the block
            conn.cursor().executemany(
                "INSERT INTO hdms_outbox (id, type, ticket_id, payload, created_at, attempts, last_error) "
                "VALUES (%s, 'bench.pipeline', %s, %s, now(), 0, '')",
                rows,
            )
        return time.time()

    async def run():
        async with connect(url, subprotocols=["hdms", f"access_token.{bench.token}"], max_queue=None) as ws:

            async def listen():
                async for raw in ws:
                    message = json.loads(raw)
                    if message.get("type") == "bench.pipeline":
                        received[message["data"]["key"]] = time.time()

            listener = asyncio.create_task(listen())
            await asyncio.sleep(0.5)
            committed = await asyncio.to_thread(insert, "burst", range(burst))
            deadline = time.monotonic() + 120
            while sum(k.startswith("burst-") for k in received) < burst and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            drained = max((t for k, t in received.items() if k.startswith("burst-")), default=committed)
            sent: dict[str, float] = {}
            begin = time.monotonic()
            for n in range(rate * seconds):
                await asyncio.sleep(max(0.0, begin + n / rate - time.monotonic()))
                sent[f"steady-{n}"] = time.time()
                await asyncio.to_thread(insert, "steady", range(n, n + 1))
            deadline = time.monotonic() + 30
            while any(k not in received for k in sent) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            listener.cancel()
            return committed, drained, sent

    committed, drained, sent = asyncio.run(run())
    got = sum(k.startswith("burst-") for k in received)
    latencies = [(received[k] - t) * 1000 for k, t in sent.items() if k in received]
    result = {
        "burst": burst,
        "burst_received": got,
        "per_second": got / max(drained - committed, 1e-6),
        "rate": rate,
        "steady": len(sent),
        "steady_lost": len(sent) - len(latencies),
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
    }
    log(
        f"events pipeline: burst {got}/{burst} at {result['per_second']:.0f} events/s; steady {rate}/s: "
        f"p50 {result['p50']:.0f} ms p99 {result['p99']:.0f} ms, lost {result['steady_lost']}"
    )
    return result
