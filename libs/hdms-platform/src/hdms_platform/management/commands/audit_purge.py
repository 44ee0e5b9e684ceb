from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from hdms_platform.audit import purge


class Command(BaseCommand):
    help = "Delete this service's audit entries older than AUDIT_RETENTION_DAYS, in batches (audited)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=5000)

    def handle(self, *args: Any, batch: int, **options: Any) -> None:
        deleted = purge(older_than_days=settings.AUDIT_RETENTION_DAYS, batch=batch)
        self.stdout.write(f"purged {deleted} audit entries older than {settings.AUDIT_RETENTION_DAYS} days")
