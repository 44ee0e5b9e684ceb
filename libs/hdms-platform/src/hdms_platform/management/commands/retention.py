from typing import Any

from django.core.management.base import BaseCommand, CommandError

from hdms_platform.db import retention


class Command(BaseCommand):
    help = "Run this service's retention purges once (settings.HDMS_RETENTION), as the scheduled task does."

    def handle(self, *args: Any, **options: Any) -> None:
        done = retention.run()
        for name, deleted in done.items():
            self.stdout.write(f"{name}: {'FAILED (see the log)' if deleted is None else f'deleted {deleted}'}")
        if None in done.values():
            raise CommandError("a purge failed")
