"""HTTP: one indexed read through PgBouncer vs direct, the framework's floor, cache hit and miss, list pages; the mixed helpdesk workload."""

from __future__ import annotations

import json
import os

from bench.measure import WEB_THREADS, WEB_WORKERS, Sampler, group_rss_mb, log, wrk
from bench.stack import Bench
from hdms_tools.stack import REPO


def django(bench: Bench) -> dict:
    detail = f"/api/v1/tickets/{bench.ticket_id}/"
    for name in ("pooled", "direct", "cached"):  # every worker process connected and warm before any run
        for _ in range(2 * WEB_WORKERS * WEB_THREADS):
            bench.get(name, detail)
    out: dict = {"read": {}}
    direct, pooled, out["read_ratio"] = bench.paired(("direct", detail), ("pooled", detail))
    out["read"][32] = {"pooled": pooled, "direct": direct}
    out["read"][512] = {name: bench.http(name, detail, 512) for name in ("direct", "pooled")}
    bench.get("cached", detail)  # warm
    bare, hit, out["hit_ratio"] = bench.paired(("cached", "/bench/bare/"), ("cached", detail))
    out["floor"] = {"bare": bare, "hit": hit, "miss": bench.http("pooled", detail, 32)}
    page = "/api/v1/tickets/?page_size=50"
    bench.get("cached", page)
    bench.get("pooled", page)
    uncached, cached, out["list_ratio"] = bench.paired(("pooled", page), ("cached", page))
    out["list"] = {"cached": cached, "uncached": uncached}
    return out


def mixed(bench: Bench) -> dict:
    """A helpdesk's traffic at 64 connections (bench/mixed.lua): 6 users (3 customers on their own
    tickets, 2 agents, an admin); half detail reads, a quarter list pages, comment lists, ~12%
    writes (comments; priority changes by staff). Beside it, the bare view at 64 connections."""

    from hdms_platform.testing.tokens import make_access_token

    with bench.db("ticket") as conn:
        open_ids = [str(r[0]) for r in conn.execute("SELECT id FROM tickets_ticket WHERE status <> 'closed' LIMIT 200")]
        customers = conn.execute(
            "SELECT requester_id, array_agg(id::text) FROM tickets_ticket WHERE status <> 'closed' "
            "GROUP BY requester_id ORDER BY count(*) DESC LIMIT 3"
        ).fetchall()
    users = [
        {
            "token": make_access_token(user_id=requester, roles=("customer",), expires_in=3600),
            "tickets": ids[:20],
            "staff": False,
        }
        for requester, ids in customers
    ]
    users += [
        {"token": make_access_token(roles=roles, expires_in=3600), "tickets": open_ids[i::3][:40], "staff": True}
        for i, roles in enumerate((("agent",), ("agent",), ("admin",)))
    ]

    def lua(value) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return json.dumps(value)
        if isinstance(value, list):
            return "{" + ", ".join(lua(v) for v in value) + "}"
        return "{" + ", ".join(f"{k} = {lua(v)}" for k, v in value.items()) + "}"

    users_file = bench.state / "users.lua"
    users_file.write_text(f"return {lua(users)}\n")
    os.environ["HDMS_MIXED_USERS"] = str(users_file)
    base = f"http://127.0.0.1:{bench.ports['cached']}"
    with Sampler(lambda: group_rss_mb(bench.pid("cached"))) as rss:
        result = wrk(base + "/", 64, bench.args.seconds, bench.token, script=REPO / "bench" / "mixed.lua")
    result["rss"] = rss.peak
    bare = wrk(base + "/bench/bare/", 64, bench.args.seconds, bench.token)
    log(
        f"mixed workload c=64 {result['rps']:>8.0f} req/s  p99 {result['p99']} ms  errors {result['errors']}; bare {bare['rps']:.0f}"
    )
    return {"mixed": result, "bare": bare, "users": len(users)}
