"""`make bench`: the stack's speed, side by side in one run, written to docs/performance.md.

Starts a private production-like stack (prod settings, DEBUG off, gunicorn for the WSGI services,
uvicorn for communication-service), seeds thousands of tickets, drives it with wrk (Debian's
package) and Python clients, and reports every figure next to the one it is compared with.

    make bench                                   # ~5 minutes on 2 cores
    .venv/bin/python -m bench.run --smoke        # a few seconds per scenario; used by make test

Three ticket-service instances run the same code with the bench settings (core.settings.bench):
  cached   through PgBouncer, Redis cache        (the production configuration)
  pooled   through PgBouncer, no cache           (every read is a miss)
  direct   PostgreSQL's Unix socket, no cache    (PgBouncer bypassed: the bench-only switch)

The package: stack.py (the private stack, the instances, wrk runs against them), measure.py (shared
measurement helpers), scenarios/ (one module per scenario), targets.py (the one table of targets),
report.py (docs/performance.md). This module is the command line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bench import targets
from bench.measure import ensure_wrk, group_rss_mb, log
from bench.report import report
from bench.scenarios import MEMORY_AT_REST, SCENARIOS
from bench.stack import Bench
from hdms_tools.stack import REPO


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true", help="seconds-long scenarios, small data: keeps the bench from rotting")
    parser.add_argument("--seconds", type=int, default=None)
    parser.add_argument("--output", default=str(REPO / "docs" / "performance.md"))
    parser.add_argument(
        "--only", default="", help=f"comma-separated scenarios ({', '.join(SCENARIOS)}): print their results, write no report"
    )
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (2 if args.smoke else 10)
    ensure_wrk()
    started = time.monotonic()
    bench = Bench(args)
    if args.only:
        try:
            bench.start()
            for name in args.only.split(","):
                print(json.dumps({name: SCENARIOS[name](bench)}, indent=1, default=str))
        finally:
            bench.stop()
        return 0
    try:
        bench.start()
        results = {"memory": {**MEMORY_AT_REST(bench), "cached": group_rss_mb(bench.pid("cached"))}}
        for name, scenario in SCENARIOS.items():
            results[name] = scenario(bench)
    finally:
        bench.stop()
    report(results, args, Path(args.output))
    log(targets.summary(results))
    log(f"wrote {args.output} in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
