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

    class Meta:
        db_table = "hdms_outbox"
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["created_at"], condition=models.Q(published_at__isnull=True), name="hdms_outbox_pending"),
        ]
