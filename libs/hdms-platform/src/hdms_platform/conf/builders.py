"""Settings builders: a service's settings/base.py names each setting it sets, calling these for
the ones that depend on the service (DATABASES, CACHES, ...); what is the same for every service is
named in hdms_platform.conf.defaults (and hdms_platform.conf.production for prod.py), which base.py
star-imports.

Everything infrastructural is decided here once: PgBouncer-safe databases, the three Redis
roles, Celery, logging, DRF. A service passes its name and says what is its own.
"""

from __future__ import annotations

import contextlib
import re
import socket
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hdms_platform.conf.catalogue import REDIS_DB, REDIS_KEY_PREFIX, REDIS_URL_VARIABLE, check, default_port, port_variable
from hdms_platform.conf.env import Env
from hdms_platform.conf.env import env as default_env
from hdms_platform.conf.trusted_proxies import TrustedProxies
from hdms_platform.conf.ttl import TTL

HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "hdms_platform",
    "hdms_platform.health",
    "django_migration_linter",  # `manage.py lintmigrations` (make test); no models, no runtime code
]


# The retention purges every service runs (its audit log, its Idempotency-Keys, what its event
# subscribers received); see retention.py.
RETENTION_PURGES = (
    "hdms_platform.audit.audit_entries_purge",
    "hdms_platform.web.idempotency.idempotency_keys_purge",
    "hdms_platform.outbox.subscribers.received_events_purge",
)
OUTBOX_PURGE = "hdms_platform.outbox.services.outbox_events_purge"
OUTBOX_LAG = "hdms_platform.outbox.relay.lag"  # readiness' lag probe for a service with an outbox


def redis_url(role: str, env: Env = default_env) -> str:
    """One role's URL: its own variable if set (another server, its own credentials), else the
    shared server with the role's ACL user (`hdms-<role>`, REDIS_<ROLE>_PASSWORD) and db number."""
    variable = REDIS_URL_VARIABLE[role]
    if env.str(variable, ""):
        return env.redis_url(variable, "")
    host = env.str("REDIS_HOST", "127.0.0.1")
    port = env.port("REDIS_PORT", 6379)
    password = env.secret(f"REDIS_{role.upper()}_PASSWORD")
    return env.redis_url(variable, f"redis://hdms-{role}:{password}@{host}:{port}/{REDIS_DB[role]}")


def redis_urls(env: Env = default_env) -> dict[str, str]:
    """Every role's URL (tooling that checks all three; a service asks only for its own)."""
    return {role: redis_url(role, env) for role in REDIS_DB}


def internal_hosts(names: list[str]) -> list[str]:
    """The Host values other programs of the stack send: loopback, and where names are given (in a
    container: compose's service names) those and this container's own addresses, so Prometheus
    or a probe may ask one replica by its address. Natively nothing is looked up at start."""
    hosts = ["localhost", "127.0.0.1", "[::1]", *names]
    if names:
        with contextlib.suppress(OSError):  # no resolvable host name: loopback and the names still hold
            hosts += socket.gethostbyname_ex(socket.gethostname())[2]
    return list(dict.fromkeys(hosts))


def pgbouncer_address(env: Env = default_env) -> tuple[str, int]:
    return env.str("PGBOUNCER_HOST", "127.0.0.1"), env.port("PGBOUNCER_PORT", 6432)


def database(service: str, *, asgi: bool = False, env: Env = default_env) -> dict[str, dict[str, Any]]:
    """DATABASES for one service: `default` (transaction pooling) and `migrations` (session pooling).

    Both go through PgBouncer. Safe under transaction pooling: no server-side prepared statements,
    no server-side cursors, no session state. ASGI services never keep connections (Django's
    persistent connections leak under ASGI).
    """
    check(service)
    host, port = pgbouncer_address(env)
    # PgBouncer's session-mode entry (migrations): `hdms_<service>_session` on the same PgBouncer, or
    # PGBOUNCER_SESSION_HOST, a pooler in session mode under the plain name (CloudNativePG's Poolers
    # have one pool mode each).
    session_host = env.str("PGBOUNCER_SESSION_HOST", "")
    options: dict[str, Any] = {
        "prepare_threshold": None,
        "connect_timeout": env.int("DB_CONNECT_TIMEOUT", 2, min_value=1, max_value=60),
        "application_name": f"hdms-{service}",
    }
    common: dict[str, Any] = {
        "ENGINE": "hdms_platform.db.postgresql",  # Django's, with a health check that does not queue at PgBouncer
        "USER": f"hdms_{service}",
        "PASSWORD": env.secret(f"{service.upper()}_DB_PASSWORD"),
        "HOST": host,
        "PORT": str(port),
        "CONN_HEALTH_CHECKS": True,
        "DISABLE_SERVER_SIDE_CURSORS": True,
        "ATOMIC_REQUESTS": False,
        "OPTIONS": options,
    }
    return {
        "default": {
            **common,
            "NAME": f"hdms_{service}",
            "CONN_MAX_AGE": 0 if asgi else env.int("DB_CONN_MAX_AGE", 60, min_value=0),
        },
        "migrations": {
            **common,
            "OPTIONS": dict(options),
            "HOST": session_host or host,
            "NAME": f"hdms_{service}" if session_host else f"hdms_{service}_session",
            "CONN_MAX_AGE": 0,
            "TEST": {"MIRROR": "default"},
        },
    }


def caches(service: str, *, env: Env = default_env) -> dict[str, dict[str, Any]]:
    """django-redis on the cache role (db 0): per-service prefix and version, bounded sockets,
    errors ignored (the database answers instead) but logged and counted, and never 'no expiry'."""
    check(service)
    timeout = env.float("REDIS_SOCKET_TIMEOUT", 1.0)
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": redis_url("cache", env),
            "KEY_PREFIX": f"{REDIS_KEY_PREFIX['cache']}{service}",
            "VERSION": env.int("CACHE_VERSION", 1, min_value=1),
            "TIMEOUT": TTL.MEDIUM,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SERIALIZER": "hdms_platform.cache.aside.SafeJSONSerializer",
                "SOCKET_CONNECT_TIMEOUT": timeout,
                "SOCKET_TIMEOUT": timeout,
                "IGNORE_EXCEPTIONS": True,
                "CONNECTION_POOL_KWARGS": {"max_connections": 50, "health_check_interval": 30},
            },
        }
    }


def channel_layers(namespace: str = "communication", *, env: Env = default_env) -> dict[str, dict[str, Any]]:
    """channels-redis' pub/sub layer on the channel-layer role (hdms_platform.events.channel_layer).

    The prefix is the namespace of the service whose sockets consume the groups
    (communication-service); producers in other services publish into that namespace. Pub/sub
    channels belong to the server, not to a db: the `channels:` prefix and the role's ACL
    (`&channels:*`, config/redis/users.acl) keep them the channel-layer role's.
    """
    check(namespace)
    return {
        "default": {
            "BACKEND": "hdms_platform.events.channel_layer.PubSubChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": redis_url("channels", env),
                        "socket_connect_timeout": 2,
                        # After a Redis restart the pool still holds dead sockets: retry once on a
                        # fresh connection instead of failing the first command on each of them.
                        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
                        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
                    }
                ],
                "prefix": f"{REDIS_KEY_PREFIX['channels']}{namespace}",
            },
        }
    }


def logging_config(*, json: bool, env: Env = default_env) -> dict[str, Any]:
    level = env.choice("LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO")
    access_log = env.bool("ACCESS_LOG", True)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "hdms_platform.observability.logging.RequestIdFilter"}},
        "formatters": {
            "json": {"()": "hdms_platform.observability.logging.JsonFormatter"},
            "console": {"format": "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json" if json else "console",
                "filters": ["request_id"],
            },
            "access": {
                "()": "hdms_platform.observability.logging.AccessLogHandler",
                "formatter": "json" if json else "console",
                "filters": ["request_id"],
            },
            "degraded": {"class": "hdms_platform.cache.aside.DegradedCacheCounter"},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # The access log (a line per request, socket and task) has its own switch, not LOG_LEVEL.
            "hdms.access": {"handlers": ["access"], "level": "INFO" if access_log else "WARNING", "propagate": False},
            "django.db.backends": {"level": "INFO"},
            "hdms.cache.ignored": {"handlers": ["console", "degraded"], "level": "WARNING", "propagate": False},
        },
    }


def trusted_proxies(env: Env = default_env) -> TrustedProxies:
    """TRUSTED_PROXIES: the addresses, networks or host names whose X-Forwarded-For counts (web/proxies.py)."""
    entries = env.list("TRUSTED_PROXIES", [])
    proxies = TrustedProxies(entries)
    bad = [name for name in proxies.names if not HOST_NAME.fullmatch(name)]
    if bad:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES must list addresses, networks or host names, got {', '.join(bad)!r}")
    return proxies


def rest_framework(env: Env = default_env) -> dict[str, Any]:
    return {
        # How many reverse proxies append to X-Forwarded-For in front of the services: 0 = none, the
        # peer address is the client (the header is ignored); N = the N-th address from the right.
        # Anything to its left was written by the client and is never trusted.
        "NUM_PROXIES": env.int("TRUSTED_PROXY_COUNT", 0, min_value=0, max_value=5),
        "DEFAULT_AUTHENTICATION_CLASSES": ["hdms_platform.auth.tokens.AccessTokenAuthentication"],
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
        "DEFAULT_THROTTLE_CLASSES": ["hdms_platform.auth.throttles.UserWriteThrottle"],  # WRITES_PER_USER_PER_MINUTE
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        "DEFAULT_PARSER_CLASSES": ["hdms_platform.web.parsers.StrictJSONParser"],
        "EXCEPTION_HANDLER": "hdms_platform.web.exceptions.exception_handler",
        "UNAUTHENTICATED_USER": None,
        "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    }


def secret_key(env: Env = default_env) -> str:
    return env.secret("DJANGO_SECRET_KEY", min_length=50)


def api_docs(service: str) -> dict[str, Any]:
    """SPECTACULAR_SETTINGS: the service's OpenAPI schema and Swagger UI (assets from the sidecar)."""
    return {
        "TITLE": f"HDMS {service}-service API",
        "VERSION": "1.0.0",
        "SERVE_INCLUDE_SCHEMA": False,
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
        "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "hdms_platform.web.schema.document_errors"],
    }


def static_root(base_dir: Path) -> Path | None:
    """Static files (the Swagger UI's assets) are served by whitenoise in every environment: from the
    collected STATIC_ROOT when it exists (the Docker image runs collectstatic), else (None, with
    WHITENOISE_USE_FINDERS) straight from the apps' static folders (a native checkout)."""
    return base_dir / "staticfiles" if (base_dir / "staticfiles").is_dir() else None


def service_url(service: str, env: Env = default_env) -> str:
    """Where one service reaches another directly (not through the gateway): <SERVICE>_SERVICE_URL,
    else the service's port on this host."""
    check(service)
    port = env.port(port_variable(service), default_port(service))
    return env.str(f"{service.upper()}_SERVICE_URL", "") or f"http://127.0.0.1:{port}"


def ticket_service_url(env: Env = default_env) -> str:
    """Where communication- and file-service ask ticket-service's access rule."""
    return service_url("ticket", env)
