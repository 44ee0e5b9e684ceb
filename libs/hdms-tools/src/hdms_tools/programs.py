"""The native launcher's background programs by name: whose secrets each holds and where each
exports its metrics. Read by the launcher (processes.py) and the Prometheus targets (observe.py)."""

from __future__ import annotations

from .stack import Config

# Every background program, in start order (the services start first).
BACKGROUND = ("worker", "events", "user-worker", "ticket-worker", "beat", "ticket-relay", "file-relay")
# Whose secrets each program gets: a worker or relay holds exactly what its service holds.
SERVICE_OF = {
    "worker": "file",
    "events": "communication",
    "user-worker": "user",
    "ticket-worker": "ticket",
    "ticket-relay": "ticket",
    "file-relay": "file",
}
# The beat process (beat.py) belongs to no service: it holds the broker role's password and nothing else.
BEAT_SECRETS = {"REDIS_BROKER_PASSWORD"}


# The programs without HTTP of their own export their metrics on these ports (the services at /metrics).
METRICS_PORTS = {
    "worker": ("WORKER_METRICS_PORT", 9101),
    "events": ("EVENTS_METRICS_PORT", 9102),
    "ticket-relay": ("TICKET_RELAY_METRICS_PORT", 9103),
    "file-relay": ("FILE_RELAY_METRICS_PORT", 9104),
    "user-worker": ("USER_WORKER_METRICS_PORT", 9105),
    "ticket-worker": ("TICKET_WORKER_METRICS_PORT", 9106),
}


def metrics_port(config: Config, name: str) -> int:
    variable, default = METRICS_PORTS[name]
    return config.port(variable, default)
