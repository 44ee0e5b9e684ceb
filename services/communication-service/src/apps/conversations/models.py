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


class EventSource(models.Model):
    """How far each source's events are stored: the next one stored must be `last_seq + 1`."""

    source = models.CharField(max_length=32, primary_key=True)
    last_seq = models.BigIntegerField(default=0)
    # When the next check of this source's gap is due (services.event_gaps_check); None while no
    # event waits. One check chain per source; an overdue one (its task lost) is started again.
    gap_check_due = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "conversations_event_source"


class ParkedEvent(models.Model):
    """An event that arrived before its predecessor: it waits here (bounded) for the gap to fill."""

    source = models.CharField(max_length=32)
    seq = models.BigIntegerField()
    payload = models.JSONField()
    parked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "conversations_parked_event"
        constraints = [models.UniqueConstraint(fields=["source", "seq"], name="conversations_parked_unique")]


class EventGap(models.Model):
    """Sequence numbers of a source that never arrived within EVENT_GAP_WAIT_SECONDS, even after
    asking the source to send them again: reported (logged as an error and kept here), then the
    events after them were stored."""

    source = models.CharField(max_length=32)
    first_missing = models.BigIntegerField()
    last_missing = models.BigIntegerField()
    detected_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "conversations_event_gap"
