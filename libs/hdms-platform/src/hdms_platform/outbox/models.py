import uuid

from django.db import models
from django.utils import timezone


class OutboxEvent(models.Model):
    """An event written in the same transaction as the change it announces.

    The relay publishes pending rows and stamps `published_at`; its id is the event id consumers
    de-duplicate on, so publishing twice is harmless and a Redis outage delays, never loses.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=64)
    ticket_id = models.UUIDField(db_index=True)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    # This service's publishing order, gapless: 1, 2, 3... assigned by the relay as it publishes
    # (see relay.py); consumers order a source's events by it, whatever the broker's order.
    source_seq = models.BigIntegerField(null=True, blank=True)

    class Meta:
        db_table = "hdms_outbox"
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["created_at"], condition=models.Q(published_at__isnull=True), name="hdms_outbox_pending"),
        ]


class OutboxSequence(models.Model):
    """The last `source_seq` this service's relay gave out (one row). A counter row, not max(),
    so purging published rows can never make a number come back."""

    source = models.CharField(max_length=32, primary_key=True)
    last_seq = models.BigIntegerField(default=0)

    class Meta:
        db_table = "hdms_outbox_sequence"
