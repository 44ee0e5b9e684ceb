"""The service catalogue, written once: the four services, each one's default port, Celery queue,
Redis roles and secrets; the Redis roles' databases, URL variables and key prefixes.

It imports nothing, not even Django: the stack launcher (standard library only, it runs before
.venv exists), the native launcher, the tests and every service's settings read the same table.
"""

from __future__ import annotations

SERVICES = ("user", "ticket", "communication", "file")
FIRST_PORT = 8001  # user-service; the others follow in the order above


def check(service: str) -> str:
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; expected one of {SERVICES}")
    return service


def default_port(service: str) -> int:
    """<SERVICE>_SERVICE_PORT when unset: 8001 user, 8002 ticket, 8003 communication, 8004 file."""
    return FIRST_PORT + SERVICES.index(check(service))


def port_variable(service: str) -> str:
    return f"{check(service).upper()}_SERVICE_PORT"


def task_queue(service: str) -> str:
    """A service's own Celery queue: its worker consumes it, other services send to it."""
    return f"hdms.{check(service)}"


REDIS_DB = {"cache": 0, "channels": 1, "broker": 2}

# Which Redis roles each service uses: its settings declare these, and only these roles' passwords
# are handed to its processes (see service_secrets).
SERVICE_REDIS_ROLES = {
    "user": ("cache", "broker"),  # broker: its worker takes the scheduled retention task
    "ticket": ("cache", "broker"),
    "communication": ("cache", "channels", "broker"),
    "file": ("cache", "broker"),
}
REDIS_URL_VARIABLE = {"cache": "REDIS_CACHE_URL", "channels": "CHANNEL_LAYER_URL", "broker": "CELERY_BROKER_URL"}
# Each role has its own Redis ACL user, allowed only keys (and pub/sub channels) under its prefix
# and no dangerous commands (config/redis/acl.py writes the rules).
REDIS_KEY_PREFIX = {"cache": "cache:", "channels": "channels:", "broker": "broker:"}


SECRET_VARIABLES = (
    "DJANGO_SECRET_KEY",
    "POSTGRES_PASSWORD",
    "PGBOUNCER_ADMIN_PASSWORD",
    "PGBOUNCER_STATS_PASSWORD",
    "JWT_PRIVATE_KEY",
    "JWT_PRIVATE_KEY_FILE",
    *(f"{s.upper()}_DB_PASSWORD" for s in SERVICES),
    *(f"REDIS_{role.upper()}_PASSWORD" for role in ("admin", "metrics", *REDIS_DB)),
)


def service_secrets(service: str) -> set[str]:
    """The secrets one service's processes (web, workers, relay) need. Everything else in
    SECRET_VARIABLES is withheld from them: another service's database password, the Redis admin
    and other roles' passwords, PgBouncer's admin, and the token-signing private key (user-service
    only; the others verify with the public key)."""
    check(service)
    own = {"DJANGO_SECRET_KEY", f"{service.upper()}_DB_PASSWORD"}
    own |= {f"REDIS_{role.upper()}_PASSWORD" for role in SERVICE_REDIS_ROLES[service]}
    if service == "user":
        own |= {"JWT_PRIVATE_KEY", "JWT_PRIVATE_KEY_FILE"}
    return own
