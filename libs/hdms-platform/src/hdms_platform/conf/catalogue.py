"""The service catalogue, written once: the four services, each one's default port and Celery queue.

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
