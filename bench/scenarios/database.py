"""pgbench select-only, direct vs through PgBouncer."""

from __future__ import annotations

from bench.measure import log
from bench.pgbench_pooling import CLIENTS as PGBENCH_CLIENTS
from bench.pgbench_pooling import pgbench
from bench.stack import Bench
from hdms_tools.stack import find_postgres_bindir


def pgbench_side_by_side(bench: Bench) -> list:
    bindir, password = find_postgres_bindir(), bench.values["FILE_DB_PASSWORD"]
    pooled = ["-h", "127.0.0.1", "-p", bench.values["PGBOUNCER_PORT"], "-U", "hdms_file"]
    direct = ["-h", str(bench.state / "data" / "run"), "-p", bench.values.get("POSTGRES_PORT", "5432"), "-U", "hdms_file"]
    init = pgbench(bindir, ["-i", "-q", "-s", "10", *pooled, "hdms_file_session"], password)
    if not init["ok"]:
        raise SystemExit(f"pgbench -i failed: {init['error']}")
    rows = []
    for clients in PGBENCH_CLIENTS:
        common = ["-S", "-n", "-c", str(clients), "-j", "2", "-T", str(bench.args.seconds)]
        d = pgbench(bindir, [*common, *direct, "hdms_file"], password)
        p = pgbench(bindir, [*common, *pooled, "hdms_file"], password)
        log(f"pgbench {clients:>4} clients  direct {d['tps']:>9.0f} tps  pgbouncer {p['tps']:>9.0f} tps")
        rows.append((clients, d, p))
    return rows
