import uuid

import pytest
from django.db import transaction

from hdms_platform.events.contracts import ContractError, TicketCreatedData, check_event, visible_audiences
from hdms_platform.outbox.models import OutboxEvent
from hdms_platform.outbox.services import outbox_write

CREATED = TicketCreatedData(number=7, subject="Printer", priority="normal", requester_id="r", actor_id="a")


def event(**changes) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "type": "ticket.created",
        "ticket_id": str(uuid.uuid4()),
        "audience": "everyone",
        "occurred_at": "2026-01-01T00:00:00+00:00",
        "data": dict(CREATED),
        **changes,
    }


def test_a_payload_that_matches_its_contract_passes():
    check_event(event())
    check_event(event(source="ticket", source_seq=3, seq=9, request_id="abc"))


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"type": "ticket.deleted"}, "type"),
        ({"data": {**CREATED, "number": "7"}}, "number"),
        ({"data": {k: v for k, v in CREATED.items() if k != "subject"}}, "subject"),
        ({"data": {**CREATED, "password": "x"}}, "password"),
        ({"audience": "admins"}, "audience"),
        (
            {
                "data": {"comment": {"id": "c", "author_id": "a", "body": "b", "is_internal": "no", "created_at": ""}},
                "type": "comment.added",
            },
            "is_internal",
        ),
    ],
)
def test_a_payload_that_differs_is_refused_naming_where(changes, says):
    with pytest.raises(ContractError, match=says):
        check_event(event(**changes))


@pytest.mark.django_db(transaction=True)
def test_outbox_write_refuses_an_off_contract_payload_and_the_change_with_it():
    ticket_id = uuid.uuid4()
    with pytest.raises(ContractError, match="priority"), transaction.atomic():
        outbox_write(type="ticket.created", ticket_id=ticket_id, data={**CREATED, "priority": 3})
    assert not OutboxEvent.objects.filter(ticket_id=ticket_id).exists()
    with transaction.atomic():
        outbox_write(type="ticket.created", ticket_id=ticket_id, data=CREATED)
    assert OutboxEvent.objects.filter(ticket_id=ticket_id).count() == 1
    OutboxEvent.objects.filter(ticket_id=ticket_id).delete()


def test_customers_never_see_staff_events():
    assert visible_audiences(is_staff=False) == ("everyone",)
    assert set(visible_audiences(is_staff=True)) == {"everyone", "staff"}
