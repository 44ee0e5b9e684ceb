"""Benchmarks only (`make bench`): production settings plus two switches, never used elsewhere.

HDMS_BENCH_DB=direct   the default database on PostgreSQL's Unix socket, bypassing PgBouncer
                       (hdms.E001 is silenced for exactly this comparison)
HDMS_BENCH_CACHE=off   a dummy cache: every read is a miss served by PostgreSQL
Adds the bench URLs (`core.bench`): a bare Django JSON view, the framework's floor.
"""

from hdms_platform.conf.env import env

from .prod import *

ROOT_URLCONF = "core.bench"
SILENCED_SYSTEM_CHECKS: list[str] = []

if env.choice("HDMS_BENCH_DB", ("pgbouncer", "direct"), "pgbouncer") == "direct":
    DATABASES["default"]["HOST"] = env.str("HDMS_BENCH_POSTGRES_SOCKET_DIR")
    DATABASES["default"]["PORT"] = env.str("POSTGRES_PORT", "5432")
    SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "hdms.E001"]

if env.choice("HDMS_BENCH_CACHE", ("redis", "off"), "redis") == "off":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    HDMS_READINESS = ["database"]
    SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "hdms.E010"]
