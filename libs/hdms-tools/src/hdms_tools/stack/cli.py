"""`python -m hdms_tools.stack start|stop [--purge]|status|install`."""

from __future__ import annotations

import argparse
import time

from .compose import compose, use_docker
from .compose import status as compose_status
from .config import EXIT_CONFIG, Config, StackError
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
    sub.add_parser("mode", help="print docker or native: where `make up` runs the stack (and, on stderr, why)")
    sub.add_parser("up", help="compose: the whole stack (base + dev), images pulled or built")
    args = parser.parse_args(argv)
    if args.command == "install":
        ensure_packages()
        return 0
    config = Config.load()
    if args.command == "mode":
        print("docker" if use_docker(config, announce=True) else "native")
        return 0
    if args.command == "up":
        if not use_docker(config):
            raise StackError(
                "`stack up` runs the compose stack: no Docker engine with images here (HDMS_STACK_MODE)", EXIT_CONFIG
            )
        return compose("up", "-d", "--wait", config=config, prepare=True)
    stack = NativeStack(config)
    if use_docker(config):
        # Infrastructure in compose; the services run natively (processes.py), so the gateway
        # in front of them is the native one too.
        if args.command == "start":
            code = compose("up", "-d", "--wait", "postgres", "pgbouncer", "redis", config=config, prepare=True)
            if code == 0:
                stack.prepare()
                stack.prepare_data_dir()
                stack.gateway().start()
            return code
        if args.command == "stop":
            stack.user = run_as_user(config)
            stack.stop_process("gateway", "nginx", stack.gateway().pidfile)
            return compose("down", *(["-v"] if args.purge else []), config=config)
        return compose_status(config)
    started = time.monotonic()
    if args.command == "start":
        stack.start()
        say("stack", "ready", started, f"data in {stack.data}")
    elif args.command == "stop":
        stack.stop(purge=args.purge)
    else:
        return stack.status()
    return 0
