"""The one table of `make bench`'s targets: each row's threshold is written once, here, and the
report's table, its verdicts, the summary and the "not met" notes all come from it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.measure import WEB_WORKERS


@dataclass(frozen=True)
class Target:
    name: str
    measured: Callable[[dict], str]  # results -> the figure as reported
    met: Callable[[dict], bool]  # results -> the threshold
    levers: str  # what got it there (before and after: docs/performance-profiles.md)
    not_met: tuple[str, ...]  # what is known of why, when it is not met


def _read(r: dict) -> dict:
    return r["django"]["read"][512]["pooled"]


def _fanout(r: dict) -> dict:
    return r["fanout"]["pubsub"]


TARGETS = (
    Target(
        "Django read through PgBouncer >= 0.95x direct at 32 clients",
        lambda r: f"{r['django']['read_ratio']:.3f}x",
        lambda r: r["django"]["read_ratio"] >= 0.95,
        f"{WEB_WORKERS} gunicorn workers per service (2 x cores) fill the hop's wait; a health check that asks the socket, not `SELECT 1`",
        (
            "- **read through PgBouncer vs direct**: each query takes one more hop, and PgBouncer's own CPU",
            "  (measured 50-75 us per query) comes out of the same 2 cores as the services' and wrk's; reaching",
            "  PgBouncer over a Unix socket instead of TCP did not change it (docs/performance-profiles.md).",
        ),
    ),
    Target(
        "512 clients: 0 errors, PostgreSQL backends <= pool size (20)",
        lambda r: f"{_read(r)['errors']} errors, {_read(r)['backends']} backends",
        lambda r: _read(r)["errors"] == 0 and _read(r)["backends"] <= 20,
        "transaction pooling; a service holds one connection per thread at most",
        (),
    ),
    Target(
        "cached ticket detail >= 0.85x the bare Django view",
        lambda r: f"{r['django']['hit_ratio']:.3f}x",
        lambda r: r["django"]["hit_ratio"] >= 0.85,
        "answered from memory without DRF's dispatch (`hdms_platform.web.fastpath`); per-process copies kept coherent by Redis tracking; verified tokens kept per process; the access log off the request thread; balanced workers (`--reuse-port`)",
        (
            "- **cached detail vs bare view**: a hit's own Python is now ~60 us more than the bare view's (its",
            "  URL, the answer from memory); the rest is its threads waiting for the GIL around each response",
            "  write; see docs/performance-profiles.md.",
        ),
    ),
    Target(
        "cached list >= 3x uncached",
        lambda r: f"{r['django']['list_ratio']:.3f}x",
        lambda r: r["django"]["list_ratio"] >= 3,
        "the page and its list generation token copied per process (no Redis round trip)",
        (
            "- **cached list**: a hit renders up to 50 tickets through DRF; the uncached side's speed moves",
            "  with PostgreSQL's share of the 2 cores; see the pair ratios below.",
        ),
    ),
    Target(
        "fan-out p99 < 100 ms with 0 lost",
        lambda r: f"p99 {_fanout(r)['p99']:.1f} ms, {_fanout(r)['lost']} lost",
        lambda r: _fanout(r)["p99"] < 100 and _fanout(r)["lost"] == 0,
        "one PUBLISH per group, fanned out per process (pub/sub layer); events handed to idle sockets without a dispatch; no per-message deflate",
        (
            "- **fan-out**: the deliveries are CPU-bound on 2 cores: each costs one socket write in a uvicorn",
            "  worker and one read in a client process (the loopback TCP path on both sides), see the table below.",
        ),
    ),
    Target(
        "upload -> ready p95 < 500 ms",
        lambda r: f"{r['uploads']['p95']:.0f} ms",
        lambda r: r["uploads"]["p95"] < 500,
        "the task sent at commit (the outbox relay as safety net); timed by one observer, not 20 polling clients",
        (
            "- **upload -> ready**: 20 simultaneous uploads meet 2 worker processes, so the last ones queue",
            "  behind the first; each task also verifies the image twice with Pillow and writes a thumbnail.",
        ),
    ),
)


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def table(results: dict) -> list[str]:
    """The report's targets table."""
    return [
        "| target | measured | | levers |",
        "|---|---|---|---|",
        *(f"| {t.name} | {t.measured(results)} | {verdict(t.met(results))} | {t.levers} |" for t in TARGETS),
    ]


def notes(results: dict) -> list[str]:
    """What is known of why, for each target not met (nothing when all are)."""
    missed = [t for t in TARGETS if not t.met(results)]
    return ["Where a target is not met, what is known of why:", *(line for t in missed for line in t.not_met)] if missed else []


def summary(results: dict) -> str:
    missed = [t.name for t in TARGETS if not t.met(results)]
    return f"targets: {len(TARGETS) - len(missed)} of {len(TARGETS)} met" + (f"; not met: {'; '.join(missed)}" if missed else "")
