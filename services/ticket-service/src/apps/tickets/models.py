from django.db import models
from django.utils import timezone

from hdms_platform.models import CreatedModel, TimestampedModel

NUMBER_SEQUENCE = "tickets_ticket_number_seq"


class Ticket(TimestampedModel):
    class Status(models.TextChoices):
        OPEN = "open"
        PENDING = "pending"
        RESOLVED = "resolved"
        CLOSED = "closed"

    class Priority(models.TextChoices):
        LOW = "low"
        NORMAL = "normal"
        HIGH = "high"
        URGENT = "urgent"

    # Human-readable number from a PostgreSQL sequence: gap-free enough, race-free, no locking.
    number = models.BigIntegerField(
        unique=True, editable=False, db_default=models.Func(models.Value(NUMBER_SEQUENCE), function="nextval")
    )
    subject = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.NORMAL)
    requester_id = models.UUIDField()
    assignee_id = models.UUIDField(null=True, blank=True)

    class Meta:
        db_table = "tickets_ticket"
        indexes = [
            models.Index(fields=["requester_id", "-updated_at"], name="tickets_requester_updated"),
            models.Index(fields=["status", "-updated_at"], name="tickets_status_updated"),
            models.Index(fields=["assignee_id", "-updated_at"], name="tickets_assignee_updated"),
            models.Index(fields=["-updated_at"], name="tickets_updated"),
        ]

    @property
    def reference(self) -> str:
        return f"HD-{self.number:06d}"


class Comment(CreatedModel):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="comments")
    author_id = models.UUIDField()
    body = models.TextField()
    is_internal = models.BooleanField(default=False)

    class Meta:
        db_table = "tickets_comment"
        ordering = ["created_at"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="tickets_comment_ticket")]


class History(models.Model):
    """One row per changed field: who, when, which field, from what, to what."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="history")
    actor_id = models.UUIDField()
    field = models.CharField(max_length=32)
    # NULL is "no value" (a field set for the first time, or cleared), distinct from an empty string.
    old_value = models.TextField(null=True, blank=True)  # noqa: DJ001
    new_value = models.TextField(null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "tickets_history"
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="tickets_history_ticket")]
