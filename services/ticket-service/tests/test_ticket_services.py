"""Transitions, history, comments and the outbox, through the service layer and the API."""

import pytest
from django.db import transaction

from apps.tickets import services
from apps.tickets.models import History, Ticket
from hdms_platform.outbox.models import OutboxEvent

from .factories import TicketFactory

pytestmark = pytest.mark.django_db
S = Ticket.Status


def _transition(actor, ticket, status):
    return actor.client.post(f"/api/v1/tickets/{ticket.id}/transition/", {"status": status}, format="json")


@pytest.mark.parametrize(
    ("start", "target", "expected"),
    [
        (S.OPEN, S.PENDING, 200),
        (S.OPEN, S.RESOLVED, 200),
        (S.OPEN, S.CLOSED, 200),
        (S.OPEN, S.OPEN, 409),
        (S.PENDING, S.OPEN, 200),
        (S.PENDING, S.RESOLVED, 200),
        (S.RESOLVED, S.OPEN, 200),
        (S.RESOLVED, S.PENDING, 409),
        (S.RESOLVED, S.CLOSED, 200),
        (S.CLOSED, S.OPEN, 409),
        (S.CLOSED, S.RESOLVED, 409),
    ],
)
def test_agent_transitions(actors, start, target, expected):
    ticket = TicketFactory(status=start)
    response = _transition(actors["agent"], ticket, target)
    assert response.status_code == expected, response.json()
    ticket.refresh_from_db()
    if expected == 200:
        assert ticket.status == target
        row = History.objects.get(ticket=ticket, field="status")
        assert (row.old_value, row.new_value, row.actor_id) == (start, target, actors["agent"].user.id)
    else:
        assert ticket.status == start and not History.objects.filter(ticket=ticket).exists()
        assert response.json()["error"]["code"] in ("transition_invalid", "transition_noop")


def test_an_illegal_transition_names_the_rule(actors):
    ticket = TicketFactory(status=S.CLOSED)
    body = _transition(actors["agent"], ticket, S.OPEN).json()
    assert "closed to open" in body["error"]["message"] and "closed is final" in body["error"]["message"]


def test_customers_may_only_reopen_or_close(actors, ticket):
    a = actors["customer_a"]
    assert _transition(a, ticket, S.RESOLVED).status_code == 403
    Ticket.objects.filter(pk=ticket.pk).update(status=S.RESOLVED)
    assert _transition(a, ticket, S.OPEN).status_code == 200
    assert _transition(a, ticket, S.CLOSED).status_code == 200


@pytest.mark.parametrize("status", [S.RESOLVED, S.PENDING])
def test_a_customer_reply_reopens_the_ticket(actors, ticket, status):
    Ticket.objects.filter(pk=ticket.pk).update(status=status)
    response = actors["customer_a"].client.post(f"/api/v1/tickets/{ticket.id}/comments/", {"body": "Still broken"}, format="json")
    assert response.status_code == 201
    ticket.refresh_from_db()
    assert ticket.status == S.OPEN
    assert History.objects.filter(ticket=ticket, field="status", old_value=status, new_value=S.OPEN).exists()
    assert list(OutboxEvent.objects.filter(ticket_id=ticket.id).order_by("created_at").values_list("type", flat=True)) == [
        "comment.added",
        "ticket.updated",
    ]


def test_an_agent_reply_does_not_reopen(actors, ticket):
    Ticket.objects.filter(pk=ticket.pk).update(status=S.RESOLVED)
    actors["agent"].client.post(f"/api/v1/tickets/{ticket.id}/comments/", {"body": "Glad to help"}, format="json")
    ticket.refresh_from_db()
    assert ticket.status == S.RESOLVED


def test_closed_tickets_take_no_comments_or_edits(actors, ticket):
    Ticket.objects.filter(pk=ticket.pk).update(status=S.CLOSED)
    client = actors["agent"].client
    assert client.post(f"/api/v1/tickets/{ticket.id}/comments/", {"body": "late"}, format="json").status_code == 409
    assert client.patch(f"/api/v1/tickets/{ticket.id}/", {"subject": "late"}, format="json").status_code == 409
    assert client.post(f"/api/v1/tickets/{ticket.id}/assign/", {"assignee_id": None}, format="json").status_code == 409


def test_update_records_field_level_history_only_for_real_changes(actors, ticket):
    agent = actors["agent"]
    response = agent.client.patch(
        f"/api/v1/tickets/{ticket.id}/",
        {"subject": "New subject", "priority": "high", "description": ticket.description},
        format="json",
    )
    assert response.status_code == 200
    rows = {r.field: (r.old_value, r.new_value) for r in History.objects.filter(ticket=ticket)}
    assert rows == {"subject": (ticket.subject, "New subject"), "priority": ("normal", "high")}
    event = OutboxEvent.objects.get(ticket_id=ticket.id)
    assert event.payload["type"] == "ticket.updated" and set(event.payload["data"]["changes"]) == {"subject", "priority"}


def test_assign_and_unassign(actors, ticket):
    agent = actors["agent"]
    url = f"/api/v1/tickets/{ticket.id}/assign/"
    assert agent.client.post(url, {"assignee_id": str(agent.user.id)}, format="json").json()["assignee_id"] == str(agent.user.id)
    assert agent.client.post(url, {"assignee_id": None}, format="json").json()["assignee_id"] is None
    assert list(History.objects.filter(field="assignee_id").values_list("new_value", flat=True)) == [str(agent.user.id), None]


def test_create_writes_ticket_history_and_event_together(actors):
    response = actors["customer_a"].client.post("/api/v1/tickets/", {"subject": "Printer"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["priority"] == "normal"
    assert body["reference"] == f"HD-{body['number']:06d}" and body["status"] == "open"
    event = OutboxEvent.objects.get(ticket_id=body["id"])
    assert event.type == "ticket.created" and event.payload["id"] == str(event.id)
    assert event.payload["data"]["number"] == body["number"]


def test_outbox_row_and_change_commit_or_roll_back_together(actors, ticket, monkeypatch):
    """A failure after the change but inside the transaction leaves neither the change nor its event."""

    def boom(**kwargs):
        raise RuntimeError("publisher table exploded")

    monkeypatch.setattr(services, "outbox_write", boom)
    with pytest.raises(RuntimeError):
        services.ticket_transition(actor=actors["agent"].user, ticket_id=ticket.id, status=S.PENDING)
    ticket.refresh_from_db()
    assert ticket.status == S.OPEN
    assert not History.objects.filter(ticket=ticket).exists() and not OutboxEvent.objects.exists()


def test_outbox_write_refuses_to_run_outside_a_transaction(ticket):
    from hdms_platform.outbox.services import outbox_write

    conn = transaction.get_connection()
    saved = conn.in_atomic_block
    conn.in_atomic_block = False  # as in autocommit code, outside any atomic()
    try:
        with pytest.raises(RuntimeError, match=r"inside transaction\.atomic"):
            outbox_write(type="ticket.updated", ticket_id=ticket.id, data={})
    finally:
        conn.in_atomic_block = saved


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, {"subject"}),
        ({"subject": "x" * 201, "priority": "whenever"}, {"subject", "priority"}),
        ({"subject": "ok", "requester_id": "not-a-uuid"}, {"requester_id"}),
    ],
)
def test_bad_input_names_each_field_and_writes_nothing(actors, payload, fields):
    response = actors["agent"].client.post("/api/v1/tickets/", payload, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == fields
    assert not Ticket.objects.exists() and not OutboxEvent.objects.exists()


def test_malformed_json_and_unknown_ids(actors, ticket):
    client = actors["agent"].client
    bad = client.generic("POST", "/api/v1/tickets/", "{not json", content_type="application/json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "parse_error"
    missing = client.get("/api/v1/tickets/00000000-0000-4000-8000-00000000dead/")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/tickets/not-a-uuid/").status_code == 404
    bad_status = client.post(f"/api/v1/tickets/{ticket.id}/transition/", {"status": "frozen"}, format="json")
    assert bad_status.status_code == 400 and "status" in bad_status.json()["error"]["fields"]


def test_an_unknown_url_gets_the_json_error_model_not_an_html_page(actors):
    response = actors["agent"].client.get("/no/such/page/")
    assert response.status_code == 404 and response.json() == {"error": {"code": "not_found", "message": "Not found."}}


def test_a_connection_lost_mid_request_is_a_503_saying_the_outcome_is_unknown(transactional_db):
    """PostgreSQL dying during COMMIT surfaces as psycopg's InternalError; only when the connection
    is really gone is it a 503 (retry later), otherwise it stays a 500 (a bug of ours)."""
    from django.db import InternalError, connection

    from hdms_platform.web.exceptions import exception_handler

    connection.ensure_connection()
    assert exception_handler(InternalError("a bug of ours"), {}).status_code == 500
    connection.connection.close()  # the server went away under us
    try:
        lost = exception_handler(InternalError("received 2 results from command 'COMMIT'"), {})
    finally:
        connection.close()
    assert lost.status_code == 503 and "unknown" in lost.data["error"]["message"]


def test_only_staff_set_priority_when_opening_a_ticket(actors):
    """The same rule as editing: a customer cannot open a ticket as urgent."""
    refused = actors["customer_a"].client.post("/api/v1/tickets/", {"subject": "Mine first", "priority": "urgent"}, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    assert not Ticket.objects.filter(subject="Mine first").exists()
    allowed = actors["agent"].client.post("/api/v1/tickets/", {"subject": "Triaged", "priority": "urgent"}, format="json")
    assert allowed.status_code == 201 and allowed.json()["priority"] == "urgent"


def test_an_audit_entry_commits_and_rolls_back_with_its_change(actors, ticket, monkeypatch):
    from hdms_platform.models import AuditEntry

    audited = AuditEntry.objects.filter(action="ticket.status_changed", target_id=str(ticket.id))

    def boom(**kwargs):
        raise RuntimeError("publisher table exploded")

    with monkeypatch.context() as patch:
        patch.setattr(services, "outbox_write", boom)
        with pytest.raises(RuntimeError):
            services.ticket_transition(actor=actors["agent"].user, ticket_id=ticket.id, status=S.PENDING)
    assert not audited.exists()  # the change rolled back, and its entry with it
    services.ticket_transition(actor=actors["agent"].user, ticket_id=ticket.id, status=S.PENDING)
    assert list(audited.values_list("details", flat=True)) == [{"old": "open", "new": "pending"}]
