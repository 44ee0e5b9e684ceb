from django.db import models

from hdms_platform.models import TimestampedModel


class Attachment(TimestampedModel):
    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        READY = "ready"
        REJECTED = "rejected"

    class Kind(models.TextChoices):
        IMAGE = "image"
        DOCUMENT = "document"
        ARCHIVE = "archive"
        OTHER = "other"

    ticket_id = models.UUIDField()
    owner_id = models.UUIDField()
    type = models.CharField(max_length=16, choices=Kind.choices, default=Kind.OTHER)
    filename = models.CharField(max_length=255)
    storage_key = models.CharField(max_length=500)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    mime = models.CharField(max_length=100, blank=True, default="")
    size = models.BigIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    rejection_reason = models.CharField(max_length=200, blank=True, default="")
    processing_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        db_table = "attachments_attachment"
        indexes = [models.Index(fields=["ticket_id", "created_at"], name="attachments_ticket")]
