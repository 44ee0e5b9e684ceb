from django.db import models
from django.utils import timezone


class TicketEvent(models.Model):
    """Every live event received, once (unique event_id), kept for a bounded replay window.

    The bigint id orders the events: a client that reconnects with the last id it saw gets every
    later event for its ticket. `ticket_seq` numbers each ticket's events 1, 2, 3... with no gap
    (TicketSequence, in the storing transaction): a socket that receives n+2 after n knows n+1 is
    missing and fetches it before going on, instead of dropping a late one (consumers.py).
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
    ticket_seq = models.BigIntegerField(null=True)  # null only on rows stored before it existed

    class Meta:
        db_table = "conversations_ticket_event"
        constraints = [models.UniqueConstraint(fields=["ticket_id", "ticket_seq"], name="conversations_event_ticket_seq")]
        indexes = [
            models.Index(fields=["ticket_id", "id"], name="conversations_event_replay"),
            models.Index(fields=["created_at"], name="conversations_event_created"),
        ]


class TicketSequence(models.Model):
    """The last `ticket_seq` given out per ticket, bumped in the transaction that stores the event."""

    ticket_id = models.UUIDField(primary_key=True)
    last_seq = models.BigIntegerField()

    class Meta:
        db_table = "conversations_ticket_sequence"


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
