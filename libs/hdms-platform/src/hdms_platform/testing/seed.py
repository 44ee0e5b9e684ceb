"""Development seed data: fixed ids shared by the services' `seed_dev_data` commands, so the
users in user-service own the tickets in ticket-service and the files in file-service."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

DEV_PASSWORD = "hdms-dev-password-2026"  # development only: the command refuses production settings

USERS = {
    "admin": (uuid.UUID("00000000-0000-4000-8000-000000000001"), "admin@hdms.test", ["admin"]),
    "agent": (uuid.UUID("00000000-0000-4000-8000-000000000002"), "agent@hdms.test", ["agent"]),
    "alice": (uuid.UUID("00000000-0000-4000-8000-000000000003"), "alice@hdms.test", ["customer"]),
    "bob": (uuid.UUID("00000000-0000-4000-8000-000000000004"), "bob@hdms.test", ["customer"]),
}
TICKETS = {
    "printer": (uuid.UUID("00000000-0000-4000-9000-000000000001"), "alice", "The printer on floor 2 jams"),
    "vpn": (uuid.UUID("00000000-0000-4000-9000-000000000002"), "alice", "VPN drops every hour"),
    "invoice": (uuid.UUID("00000000-0000-4000-9000-000000000003"), "bob", "Invoice 1042 shows the wrong VAT"),
}


class SeedCommand(BaseCommand):
    help = "Load a few development records idempotently (refuses production settings)."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.SETTINGS_MODULE.endswith(".prod") or not (settings.DEBUG or settings.SETTINGS_MODULE.endswith(".test")):
            raise CommandError("seed_dev_data refuses to run with production settings")
        with transaction.atomic():
            created = self.seed()
        self.stdout.write(f"seed_dev_data: {created} created, the rest already there")

    def seed(self) -> int:
        raise NotImplementedError
