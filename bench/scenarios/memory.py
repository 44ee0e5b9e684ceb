"""Resident memory of every program at rest."""

from __future__ import annotations

from bench.measure import group_rss_mb
from bench.stack import Bench


def memory_at_rest(bench: Bench) -> dict:
    names = ("user", "ticket", "communication", "file", "worker", "events", "ticket-relay", "file-relay")
    return {name: group_rss_mb(bench.pid(name)) for name in names}
