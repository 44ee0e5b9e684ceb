"""Events are stored in their source's order, whatever order the broker delivers them in."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.conversations import services
from apps.conversations.models import EventGap, EventSource, ParkedEvent, TicketEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def source() -> str:
    """A source name of this test's own, so no stored progress of a real source interferes."""
    return f"t{uuid.uuid4().hex[:12]}"


def numbered(ticket_id, seq: int, source: str) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "type": "comment.added",
        "ticket_id": str(ticket_id),
        "audience": "everyone",
        "occurred_at": "2026-01-01T00:00:00Z",
        "data": {"n": seq},
        "source": source,
        "source_seq": seq,
    }


def stored_order(ticket_id) -> list[int]:
    return [row.payload["source_seq"] for row in TicketEvent.objects.filter(ticket_id=ticket_id).order_by("id")]


def test_an_event_that_overtook_its_predecessor_waits_and_is_stored_after_it(source):
    ticket = uuid.uuid4()
    one, two, three = (numbered(ticket, n, source) for n in (1, 2, 3))
    assert services.event_ingest(three) == [] and services.event_ingest(two) == []  # parked: 1 is missing
    drained = services.event_ingest(one)
    assert [row.payload["source_seq"] for row in drained] == [1, 2, 3]  # broadcast in this order too
    assert stored_order(ticket) == [1, 2, 3] and not ParkedEvent.objects.filter(source=source).exists()
    assert EventSource.objects.get(source=source).last_seq == 3


def test_a_redelivered_event_is_stored_once_and_sent_again(source):
    ticket = uuid.uuid4()
    first = numbered(ticket, 1, source)
    (stored,) = services.event_ingest(first)
    assert services.event_ingest(first) == [stored] and stored_order(ticket) == [1]


def test_sources_are_ordered_independently(source):
    ticket = uuid.uuid4()
    services.event_ingest(numbered(ticket, 1, source + "-file"))
    assert services.event_ingest(numbered(ticket, 2, source)) == []  # this source still waits for its 1
    assert stored_order(ticket) == [1]


def test_a_gap_that_never_fills_is_reported_then_what_came_after_is_stored(settings, source):
    ticket = uuid.uuid4()
    for n in (1, 4, 5):
        services.event_ingest(numbered(ticket, n, source))
    assert services.event_gaps_flush(source=source) == []  # not waited long enough yet
    waited = timezone.now() - timedelta(seconds=settings.EVENT_GAP_WAIT_SECONDS + 1)
    ParkedEvent.objects.filter(source=source).update(parked_at=waited)
    flushed = services.event_gaps_flush(source=source)
    assert [row.payload["source_seq"] for row in flushed] == [4, 5] and stored_order(ticket) == [1, 4, 5]
    gap = EventGap.objects.get(source=source)
    assert (gap.first_missing, gap.last_missing) == (2, 3)
    late = numbered(ticket, 2, source)  # arriving after all: stored (late), not lost
    assert [row.payload["data"] for row in services.event_ingest(late)] == [{"n": 2}]


def test_an_event_without_a_number_is_stored_as_it_comes(source):
    event = numbered(uuid.uuid4(), 1, source)
    del event["source"], event["source_seq"]
    assert len(services.event_ingest(event)) == 1
