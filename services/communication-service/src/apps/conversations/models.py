from django.db import models
from django.utils import timezone


class TicketEvent(models.Model):
    """Every live event received, once (unique event_id), kept for a bounded replay window.

    The bigint id orders the events: a client that reconnects with the last id it saw gets every
    later event for its ticket.
    """

    class Audience(models.TextChoices):
        EVERYONE = "everyone"
        STAFF = "staff"

    event_id = models.UUIDField(unique=True)
    ticket_id = models.UUIDField()
    type = models.CharField(max_length=64)
    audience = models.CharField(max_length=16, choices=Audience.choices, default=Audience.EVERYONE)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "conversations_ticket_event"
        indexes = [
            models.Index(fields=["ticket_id", "id"], name="conversations_event_replay"),
            models.Index(fields=["created_at"], name="conversations_event_created"),
        ]
