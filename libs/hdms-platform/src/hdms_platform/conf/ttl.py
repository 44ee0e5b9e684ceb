"""Named cache lifetimes: every cached value's TTL is one of these, never a bare number and never
'no expiry' (Redis' volatile-lru can then evict cache keys and never broker data)."""

from __future__ import annotations

from enum import IntEnum


class TTL(IntEnum):
    SHORT = 5 * 60  # fast-changing data: ticket lists, detail pages
    MEDIUM = 60 * 60  # slow-changing data: user profiles, access decisions
    LONG = 24 * 60 * 60  # near-static data: public keys, reference data
