"""WebSocket fan-out: many sockets on one ticket, events published on the channel layer, both layers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
import uuid

from bench.measure import (
    FANOUT_CLIENTS,
    FANOUT_SECONDS,
    PY,
    ProcessCpu,
    Sampler,
    build_channel_layer,
    group_rss_mb,
    log,
    percentile,
)
from bench.stack import Bench
from hdms_tools.stack import REPO


def fanout(bench: Bench) -> dict:
    """The production layer (pub/sub, on the stack's communication-service) and the list layer
    it replaced (channels_redis.core, on the bench's second instance), one after the other."""
    from hdms_platform.conf.builders import channel_layers

    lists = {
        "BACKEND": "channels_redis.core.RedisChannelLayer",  # as core/settings/bench.py builds it
        "CONFIG": {
            **channel_layers("communication")["default"]["CONFIG"],
            "capacity": 1000,
            "expiry": 60,
            "group_expiry": 86400,
        },
    }
    return {
        "pubsub": fanout_on(bench, "communication", channel_layers("communication")["default"]),
        "lists": fanout_on(bench, "lists", lists),
    }


def fanout_on(bench: Bench, server: str, layer_settings: dict) -> dict:
    """One event published to a ticket's group, delivered to every subscriber's socket. The
    subscribers are held by FANOUT_CLIENTS separate processes (bench/fanout_client.py), whose
    CPU use is reported: on 2 cores they compete with the server they measure."""
    from hdms_platform.events.contracts import group_message, ticket_group

    subscribers = 50 if bench.args.smoke else 1000
    rate, seconds = (10, bench.args.seconds) if bench.args.smoke else (2, FANOUT_SECONDS)
    url = f"ws://127.0.0.1:{bench.ports[server]}/ws/tickets/{bench.ticket_id}/"
    shares = [subscribers // FANOUT_CLIENTS + (i < subscribers % FANOUT_CLIENTS) for i in range(FANOUT_CLIENTS)]
    clients = [
        subprocess.Popen(
            [PY, str(REPO / "bench" / "fanout_client.py"), url, bench.token, str(share)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for share in shares
    ]
    try:
        for client in clients:
            if client.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a fan-out client exited before its sockets were open ({client.wait()})")
        time.sleep(1.0)  # every group_add has landed

        async def publish() -> int:
            layer = build_channel_layer(layer_settings)

            def tick(**data) -> dict:
                event = {"id": str(uuid.uuid4()), "type": "bench.tick", "ticket_id": bench.ticket_id}
                return group_message({**event, "audience": "everyone", "occurred_at": "", "data": data})

            # one event not counted first: every socket's first delivery warms its code paths
            await layer.group_send(ticket_group(bench.ticket_id), tick(sent_at=time.time(), warmup=True))
            await asyncio.sleep(1.0)
            sent = 0
            begin = time.monotonic()
            while time.monotonic() - begin < seconds:
                await layer.group_send(ticket_group(bench.ticket_id), tick(sent_at=time.time()))
                sent += 1
                await asyncio.sleep(max(0.0, begin + sent / rate - time.monotonic()))
            await (layer.close_pools() if hasattr(layer, "close_pools") else layer.flush())  # list layer, pub/sub
            return sent

        server_cpu = ProcessCpu(bench.pid(server))
        with Sampler(lambda: group_rss_mb(bench.pid(server))) as rss:
            begin = time.monotonic()
            sent = asyncio.run(publish())
            reports = []
            for client in clients:
                client.stdin.write(f"sent {sent}\n")
                client.stdin.flush()
            for client in clients:
                reports.append(json.loads(client.stdout.readline()))
            wall = time.monotonic() - begin
        server = server_cpu.seconds()
    finally:
        for client in clients:
            with contextlib.suppress(subprocess.TimeoutExpired):
                client.wait(timeout=20)
            if client.poll() is None:
                client.kill()
    deliveries = [(sent_at, ms) for r in reports for sent_at, ms in r["latencies"]]
    latencies = [ms for _, ms in deliveries]
    slowest: dict[float, float] = {}  # per event: its last delivery
    for sent_at, ms in deliveries:
        slowest[sent_at] = max(ms, slowest.get(sent_at, 0.0))
    received = sum(sum(r["counts"]) for r in reports)
    result = {
        "subscribers": subscribers,
        "clients": len(clients),
        "rate": rate,
        "events": sent,
        "deliveries": len(latencies),
        "lost": sent * subscribers - received,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "rss": rss.peak,
        "last_delivery": [round(slowest[k], 1) for k in sorted(slowest)],
        "client_cpu": sum(r["cpu_seconds"] for r in reports) / wall,
        "server_cpu": server / wall,
    }
    log(
        f"fan-out ({layer_settings['BACKEND'].rsplit('.', 1)[1]}) {subscribers} subscribers x {sent} events: p50 {result['p50']:.1f} ms  p99 {result['p99']:.1f} ms  "
        f"lost {result['lost']}; CPU: clients {result['client_cpu']:.2f} cores, server {result['server_cpu']:.2f}"
    )
    return result
