"""`manage.py outbox_relay`: publish this service's pending outbox events until stopped (SIGTERM)."""

from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from hdms_platform.observability import export as metrics
from hdms_platform.outbox.relay import configured_publisher, oldest_pending_age, pending_count, relay_batch, run_forever


class Command(BaseCommand):
    help = "Publish pending outbox events (settings.HDMS_OUTBOX_PUBLISHER), retrying until they are sent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="publish what is pending now, then exit")
        parser.add_argument("--poll-interval", type=float, default=0.1)
        parser.add_argument(
            "--check-lag",
            type=float,
            metavar="SECONDS",
            help="health check: exit 1 if the oldest unpublished event is older than this",
        )

    def handle(self, *args: Any, once: bool, poll_interval: float, check_lag: float | None, **options: Any) -> None:
        if check_lag is not None:
            lag = oldest_pending_age()
            self.stdout.write(f"oldest unpublished event: {'none' if lag is None else f'{lag:.1f}s old'}")
            if lag is not None and lag > check_lag:
                raise SystemExit(1)
            return
        publish = configured_publisher()
        if once:
            total = 0
            while True:
                result = relay_batch(publish=publish)
                total += result.published
                if result.failed:
                    self.stderr.write(f"publish failed: {result.error}; {pending_count()} event(s) still pending")
                    raise SystemExit(1)
                if not result.published:
                    break
            self.stdout.write(f"published {total} event(s)")
            return
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
        port = metrics.serve()
        self.stdout.write(f"outbox relay running (poll every {poll_interval}s" + (f", metrics on port {port})" if port else ")"))
        run_forever(publish=publish, poll_interval=poll_interval, stop=lambda: bool(stopping))
