"""Start and stop the HDMS data plane: PostgreSQL -> PgBouncer -> Redis.

Standard library only: it runs on a fresh machine before any virtualenv exists
(`scripts/start-infrastructure.sh` calls it with the system python3).

With a Docker engine that answers, it drives docker compose (compose.py); without one it runs the
same servers natively from the machine's packages, as an unprivileged user, with data under
HDMS_DATA_DIR (native.py: postgres.py, pgbouncer.py, redis_server.py). PostgreSQL listens on a Unix
socket only; PgBouncer is its only TCP door. Configuration and exit codes: config.py.
"""

from .config import (
    EXIT_AUTH,
    EXIT_BINARY,
    EXIT_CONFIG,
    EXIT_DATADIR,
    EXIT_PORT,
    EXIT_START,
    MARKER,
    REPO,
    RUN_AS_DEFAULT,
    SERVICES,
    Config,
    StackError,
    cli,
    read_env_file,
)
from .host import (
    ensure_packages,
    find_postgres_bindir,
    give_to,
    port_in_use,
    process_alive,
    read_pid,
    run_as_user,
    say,
    wait_until,
)
from .native import NativeStack
from .redis_server import REDIS_ROLE_USERS, redis_command, render_redis_acl

__all__ = [
    "EXIT_AUTH",
    "EXIT_BINARY",
    "EXIT_CONFIG",
    "EXIT_DATADIR",
    "EXIT_PORT",
    "EXIT_START",
    "MARKER",
    "REDIS_ROLE_USERS",
    "REPO",
    "RUN_AS_DEFAULT",
    "SERVICES",
    "Config",
    "NativeStack",
    "StackError",
    "cli",
    "ensure_packages",
    "find_postgres_bindir",
    "give_to",
    "port_in_use",
    "process_alive",
    "read_env_file",
    "read_pid",
    "redis_command",
    "render_redis_acl",
    "run_as_user",
    "say",
    "wait_until",
]
