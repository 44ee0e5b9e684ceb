"""`manage.py seed_bench_data`: thousands of tickets with comments and history, for `make bench`."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from apps.tickets.models import Comment, History, Ticket

WORDS = ("printer", "vpn", "invoice", "login", "email", "laptop", "password", "wifi", "report", "access", "refund", "order")


class Command(BaseCommand):
    help = "Bulk-load benchmark data (bench settings only)."

    def add_arguments(self, parser):
        parser.add_argument("--tickets", type=int, default=5000)
        parser.add_argument("--comments", type=int, default=3, help="per ticket")
        parser.add_argument("--customers", type=int, default=200)

    def handle(self, *args, tickets: int, comments: int, customers: int, **options):
        if not settings.SETTINGS_MODULE.endswith(".bench"):
            raise CommandError("seed_bench_data runs with the bench settings only (HDMS_SETTINGS=bench)")
        rng = random.Random(42)
        requesters = [uuid.uuid4() for _ in range(customers)]
        agents = [uuid.uuid4() for _ in range(5)]
        now = timezone.now()
        batch = 1000
        for start in range(0, tickets, batch):
            with transaction.atomic():
                rows = Ticket.objects.bulk_create(
                    [
                        Ticket(
                            subject=f"{rng.choice(WORDS).title()} issue {start + i}",
                            description="Steps to reproduce ...\n" * 5,
                            status=rng.choice(Ticket.Status.values),
                            priority=rng.choice(Ticket.Priority.values),
                            requester_id=rng.choice(requesters),
                            assignee_id=rng.choice([None, *agents]),
                            created_at=now - timedelta(minutes=rng.randint(0, 60 * 24 * 90)),
                            updated_at=now - timedelta(minutes=rng.randint(0, 60 * 24 * 30)),
                        )
                        for i in range(min(batch, tickets - start))
                    ]
                )
                Comment.objects.bulk_create(
                    [
                        Comment(
                            ticket=t,
                            author_id=rng.choice([t.requester_id, *agents]),
                            body="Thanks, looking into it. " * 4,
                            is_internal=rng.random() < 0.2,
                        )
                        for t in rows
                        for _ in range(comments)
                    ]
                )
                History.objects.bulk_create(
                    [
                        History(ticket=t, actor_id=rng.choice(agents), field="status", old_value="open", new_value=t.status)
                        for t in rows
                    ]
                )
        self.stdout.write(f"seed_bench_data: {tickets} tickets, {tickets * comments} comments")
