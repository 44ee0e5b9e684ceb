"""`python -m hdms_tools.stack start|stop [--purge]|status|install`."""

from __future__ import annotations

import argparse
import time

from .compose import compose, use_docker
from .config import Config
from .host import ensure_packages, run_as_user, say
from .native import NativeStack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hdms-stack", description="Start and stop the HDMS data plane: PostgreSQL -> PgBouncer -> Redis."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("start")
    stop = sub.add_parser("stop")
    stop.add_argument("--purge", action="store_true", help="also delete the data directory")
    sub.add_parser("status")
    sub.add_parser("install", help="install the servers from Debian's packages if missing")
    args = parser.parse_args(argv)
    if args.command == "install":
        ensure_packages()
        return 0
    config = Config.load()
    stack = NativeStack(config)
    if use_docker(config):
        # Infrastructure in compose; the services run natively (processes.py), so the gateway
        # in front of them is the native one too.
        if args.command == "start":
            code = compose("up", "-d", "--wait", "postgres", "pgbouncer", "redis")
            if code == 0:
                stack.prepare()
                stack.prepare_data_dir()
                stack.gateway().start()
            return code
        if args.command == "stop":
            stack.user = run_as_user(config)
            stack.stop_process("gateway", "nginx", stack.gateway().pidfile)
            return compose("down", *(["-v"] if args.purge else []))
        return compose("ps")
    started = time.monotonic()
    if args.command == "start":
        stack.start()
        say("stack", "ready", started, f"data in {stack.data}")
    elif args.command == "stop":
        stack.stop(purge=args.purge)
    else:
        return stack.status()
    return 0
