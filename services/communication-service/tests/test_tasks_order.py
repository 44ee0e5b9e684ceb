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
        "data": {
            "comment": {
                "id": str(uuid.uuid4()),
                "author_id": str(uuid.uuid4()),
                "body": f"number {seq}",
                "is_internal": False,
                "created_at": "2026-01-01T00:00:00Z",
            }
        },  # comment.added's contract
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


def parked_since(source, seconds: float) -> None:
    ParkedEvent.objects.filter(source=source).update(parked_at=timezone.now() - timedelta(seconds=seconds))


def test_a_gap_is_first_asked_for_again_then_reported_and_what_came_after_is_stored(settings, source):
    ticket = uuid.uuid4()
    for n in (1, 4, 5):
        services.event_ingest(numbered(ticket, n, source))
    check = services.event_gaps_check(source=source)
    assert (check.stored, check.missing) == ([], None)  # not waited long enough to ask yet
    assert 0 < check.next_check <= settings.EVENT_RESEND_AFTER_SECONDS

    parked_since(source, settings.EVENT_RESEND_AFTER_SECONDS)
    check = services.event_gaps_check(source=source)
    assert (check.stored, check.missing, check.next_check) == ([], (2, 3), settings.EVENT_RESEND_AFTER_SECONDS)
    assert EventSource.objects.get(source=source).gap_check_due is not None and not EventGap.objects.filter(source=source)

    parked_since(source, settings.EVENT_GAP_WAIT_SECONDS)  # the source could not send them: give up
    check = services.event_gaps_check(source=source)
    assert [row.payload["source_seq"] for row in check.stored] == [4, 5] and stored_order(ticket) == [1, 4, 5]
    assert (check.missing, check.next_check) == (None, None)
    assert EventSource.objects.get(source=source).gap_check_due is None
    gap = EventGap.objects.get(source=source)
    assert (gap.first_missing, gap.last_missing) == (2, 3)
    late = numbered(ticket, 2, source)  # arriving after all: stored (late), not lost
    assert [row.payload["data"]["comment"]["body"] for row in services.event_ingest(late)] == ["number 2"]


def test_a_gap_filled_by_the_resent_events_leaves_nothing_to_report(settings, source):
    ticket = uuid.uuid4()
    services.event_ingest(numbered(ticket, 1, source))
    services.event_ingest(numbered(ticket, 3, source))
    parked_since(source, settings.EVENT_RESEND_AFTER_SECONDS)
    assert services.event_gaps_check(source=source).missing == (2, 2)
    assert len(services.event_ingest(numbered(ticket, 2, source))) == 2  # the resent one drains 3
    check = services.event_gaps_check(source=source)
    assert (check.stored, check.missing, check.next_check) == ([], None, None)
    assert stored_order(ticket) == [1, 2, 3] and not EventGap.objects.filter(source=source).exists()


def test_one_gap_check_is_scheduled_per_source_and_a_lost_one_is_started_again(settings, source):
    services.event_ingest(numbered(uuid.uuid4(), 2, source))  # parked; creates the source's row
    assert services.event_gap_check_claim(source=source) is True
    assert services.event_gap_check_claim(source=source) is False  # one is due: the next parked event adds none
    overdue = timezone.now() - timedelta(seconds=settings.EVENT_RESEND_AFTER_SECONDS + 1)
    EventSource.objects.filter(source=source).update(gap_check_due=overdue)  # its task never ran
    assert services.event_gap_check_claim(source=source) is True


def test_an_event_without_a_number_is_stored_as_it_comes(source):
    event = numbered(uuid.uuid4(), 1, source)
    del event["source"], event["source_seq"]
    assert len(services.event_ingest(event)) == 1
