"""System checks for infrastructure mistakes; `hdms_platform.web.startup` makes them fail start-up."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

TAG = "hdms"


@register(TAG)
def check_databases(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    expected = tuple(getattr(settings, "HDMS_PGBOUNCER", ("", 0)))
    for alias, db in settings.DATABASES.items():
        host, port = db.get("HOST", ""), str(db.get("PORT", ""))
        if (host, port) != (expected[0], str(expected[1])):
            errors.append(
                Error(
                    f"DATABASES[{alias!r}] points at {host or 'a Unix socket'}:{port or '5432'}, not at PgBouncer {expected[0]}:{expected[1]}",
                    hint="Build DATABASES with hdms_platform.conf.builders.database(); applications reach PostgreSQL only through PgBouncer.",
                    id="hdms.E001",
                )
            )
        options = db.get("OPTIONS", {})
        if "prepare_threshold" not in options or options["prepare_threshold"] is not None:
            errors.append(
                Error(
                    f"DATABASES[{alias!r}] lets psycopg use server-side prepared statements",
                    hint="Set OPTIONS['prepare_threshold'] = None: prepared statements break under transaction pooling.",
                    id="hdms.E002",
                )
            )
        if not db.get("DISABLE_SERVER_SIDE_CURSORS"):
            errors.append(
                Error(
                    f"DATABASES[{alias!r}] allows server-side cursors",
                    hint="Set DISABLE_SERVER_SIDE_CURSORS = True: named cursors do not survive transaction pooling.",
                    id="hdms.E003",
                )
            )
        if not db.get("CONN_HEALTH_CHECKS"):
            errors.append(Warning(f"DATABASES[{alias!r}] has CONN_HEALTH_CHECKS off", id="hdms.W001"))
        if getattr(settings, "ASGI_APPLICATION", None) and db.get("CONN_MAX_AGE"):
            errors.append(
                Error(
                    f"DATABASES[{alias!r}] keeps connections (CONN_MAX_AGE={db.get('CONN_MAX_AGE')}) in an ASGI service",
                    hint="Use database(service, asgi=True): persistent connections leak under ASGI.",
                    id="hdms.E004",
                )
            )
    return errors


@register(TAG)
def check_redis_roles(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    roles = getattr(settings, "HDMS_REDIS_ROLES", ("cache",))
    location = settings.CACHES.get("default", {}).get("LOCATION", "")
    if "cache" in roles and not str(location).startswith(("redis://", "rediss://")):
        errors.append(Error("the cache role is not configured: CACHES['default'] is not Redis", id="hdms.E010"))
    if "channels" in roles and not getattr(settings, "CHANNEL_LAYERS", {}).get("default"):
        errors.append(Error("the channel-layer role is not configured: CHANNEL_LAYERS is empty", id="hdms.E011"))
    if "broker" in roles and not getattr(settings, "CELERY_BROKER_URL", ""):
        errors.append(Error("the broker role is not configured: CELERY_BROKER_URL is empty", id="hdms.E012"))
    cache_timeout = settings.CACHES.get("default", {}).get("TIMEOUT", 300)
    if cache_timeout is None:
        errors.append(Error("CACHES['default']['TIMEOUT'] is None (no expiry)", hint="Use a TTL policy.", id="hdms.E013"))
    return errors
