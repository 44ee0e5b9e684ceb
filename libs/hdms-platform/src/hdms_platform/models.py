import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class UUIDModel(models.Model):
    """A UUID primary key made by the application: ids travel between services and in URLs, and
    a sequence would tell a caller how many rows there are and which ids exist."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    class Meta:
        abstract = True


class CreatedModel(UUIDModel):
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class TimestampedModel(CreatedModel):
    """`updated_at` is set by the services that change a row (they know when a change is real)."""

    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class RateCounter(models.Model):
    """One fixed-window counter (see ratelimit.py): in PostgreSQL, not in the evictable cache."""

    key = models.CharField(max_length=120, primary_key=True)
    hits = models.PositiveIntegerField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "hdms_rate_counter"


class AuditEntry(models.Model):
    """Who did what, to whom, from where: one service's append-only audit trail (see audit.py).

    Unmanaged: the migration creates the table and revokes UPDATE, DELETE and TRUNCATE from the
    service's own role, so Django's test flush (TRUNCATE) leaves it alone too.
    """

    class Outcome(models.TextChoices):
        SUCCESS = "success"
        FAILURE = "failure"
        DENIED = "denied"

    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField()
    actor_id = models.UUIDField(null=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=32, blank=True, default="")
    target_id = models.CharField(max_length=64, blank=True, default="")
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    client_address = models.CharField(max_length=64, blank=True, default="")
    request_id = models.CharField(max_length=64, blank=True, default="")
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        managed = False
        db_table = "hdms_audit_entry"


class IdempotencyRecord(models.Model):
    """One Idempotency-Key of one user and the answer its request got (see idempotency.py)."""

    id = models.BigAutoField(primary_key=True)
    user_id = models.UUIDField()
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    body = models.JSONField(null=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    completed_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "hdms_idempotency_key"
        constraints = [models.UniqueConstraint(fields=["user_id", "key"], name="hdms_idempotency_key_once")]


class ReceivedEvent(models.Model):
    """One stream event one subscriber has acted on (see outbox/subscribers.py): delivery is at least
    once, so a subscriber records the event id in the transaction of its work and skips a repeat."""

    id = models.BigAutoField(primary_key=True)
    subscriber = models.CharField(max_length=64)
    event_id = models.UUIDField()
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        db_table = "hdms_received_event"
        constraints = [models.UniqueConstraint(fields=["subscriber", "event_id"], name="hdms_received_event_once")]
