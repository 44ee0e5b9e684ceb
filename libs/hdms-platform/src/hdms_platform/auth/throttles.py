"""Per-user write limits: DRF's throttling (throttle classes, 429 with `Retry-After`) counted by
ratelimit.py, not by DRF's own cache history: that is a read-then-write of a list (a parallel
burst passes it) in the cache role, which evicts under memory pressure. ratelimit's counters are
one atomic upsert in PostgreSQL, shared by every process of the service.

Reads are not limited (the cache and the connection budget carry them); sign-in and registration
have their own limits (accounts.services).
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import BaseThrottle

from hdms_platform.auth.ratelimit import Limit, over


class UserWriteThrottle(BaseThrottle):
    """Each signed-in user's writes (POST, PUT, PATCH, DELETE) to one service: at most
    WRITES_PER_USER_PER_MINUTE per minute; past it, 429 `rate_limited`, `Retry-After` the
    seconds until the minute's window ends."""

    limits_reads = False  # so fastpath.FromMemory may answer GETs without running it

    def __init__(self) -> None:
        self.retry_after: int | None = None

    def allow_request(self, request, view) -> bool:  # type: ignore[no-untyped-def]
        user = getattr(request, "user", None)
        if user is None or request.method in SAFE_METHODS or not getattr(user, "is_authenticated", False):
            return True
        limit = Limit("writes", settings.WRITES_PER_USER_PER_MINUTE, 60)
        if over(limit, str(user.id)):
            self.retry_after = limit.retry_after()
            return False
        return True

    def wait(self) -> int | None:
        return self.retry_after
