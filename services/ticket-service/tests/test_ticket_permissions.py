"""The permission matrix: customer A (requester), customer B, agent, admin, anonymous — every endpoint."""

import pytest
from rest_framework.test import APIClient

from apps.tickets.models import Comment, History, Ticket
from hdms_platform.outbox.models import OutboxEvent

from .factories import CommentFactory

pytestmark = pytest.mark.django_db


def _call(client: APIClient, name: str, ticket: Ticket):
    base = f"/api/v1/tickets/{ticket.id}/"
    calls = {
        "detail": lambda: client.get(base),
        "update": lambda: client.patch(base, {"subject": "Edited"}, format="json"),
        "priority": lambda: client.patch(base, {"priority": "urgent"}, format="json"),
        "transition": lambda: client.post(f"{base}transition/", {"status": "closed"}, format="json"),
        "assign": lambda: client.post(f"{base}assign/", {"assignee_id": str(ticket.requester_id)}, format="json"),
        "comments": lambda: client.get(f"{base}comments/"),
        "comment": lambda: client.post(f"{base}comments/", {"body": "Hello"}, format="json"),
        "note": lambda: client.post(f"{base}comments/", {"body": "Psst", "is_internal": True}, format="json"),
        "history": lambda: client.get(f"{base}history/"),
    }
    return calls[name]()


# expected status per (operation, actor); B gets 404 everywhere: another customer's ticket does not exist for them
MATRIX = {
    "detail": {"customer_a": 200, "customer_b": 404, "agent": 200, "admin": 200},
    "update": {"customer_a": 200, "customer_b": 404, "agent": 200, "admin": 200},
    "priority": {"customer_a": 403, "customer_b": 404, "agent": 200, "admin": 200},
    "transition": {"customer_a": 200, "customer_b": 404, "agent": 200, "admin": 200},
    "assign": {"customer_a": 403, "customer_b": 404, "agent": 200, "admin": 200},
    "comments": {"customer_a": 200, "customer_b": 404, "agent": 200, "admin": 200},
    "comment": {"customer_a": 201, "customer_b": 404, "agent": 201, "admin": 201},
    "note": {"customer_a": 403, "customer_b": 404, "agent": 201, "admin": 201},
    "history": {"customer_a": 200, "customer_b": 404, "agent": 200, "admin": 200},
}
CASES = [(op, actor, status) for op, row in MATRIX.items() for actor, status in row.items()]


@pytest.mark.parametrize(("operation", "actor", "expected"), CASES, ids=[f"{o}-{a}" for o, a, _ in CASES])
def test_permission_matrix(actors, ticket, operation, actor, expected):
    before = (
        Ticket.objects.get(pk=ticket.pk).__dict__.copy(),
        Comment.objects.count(),
        History.objects.count(),
        OutboxEvent.objects.count(),
    )
    response = _call(actors[actor].client, operation, ticket)
    assert response.status_code == expected, response.content
    if expected >= 400:  # a refusal names itself and writes nothing
        assert "error" in response.json()
        after = (
            Ticket.objects.get(pk=ticket.pk).__dict__.copy(),
            Comment.objects.count(),
            History.objects.count(),
            OutboxEvent.objects.count(),
        )
        before[0].pop("_state"), after[0].pop("_state")
        assert after == before


@pytest.mark.parametrize("operation", list(MATRIX))
def test_anonymous_gets_401_everywhere(ticket, operation):
    response = _call(APIClient(), operation, ticket)
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"


def test_list_shows_customers_only_their_own_tickets(actors, ticket):
    from .factories import TicketFactory

    TicketFactory(requester_id=actors["customer_b"].user.id)
    seen = {name: {t["id"] for t in a.client.get("/api/v1/tickets/").json()["results"]} for name, a in actors.items()}
    assert seen["customer_a"] == {str(ticket.id)}
    assert str(ticket.id) not in seen["customer_b"] and len(seen["customer_b"]) == 1
    assert seen["agent"] == seen["admin"] and len(seen["agent"]) == 2
    # filtering by another requester does not widen a customer's view
    other = actors["customer_a"].client.get("/api/v1/tickets/", {"requester": str(actors["customer_b"].user.id)})
    assert other.json()["count"] == 0


def test_internal_notes_never_reach_a_customer(actors, ticket):
    CommentFactory(ticket=ticket, body="public answer")
    CommentFactory(ticket=ticket, body="internal: customer is difficult", is_internal=True)
    agent_view = actors["agent"].client.get(f"/api/v1/tickets/{ticket.id}/comments/").json()
    customer_view = actors["customer_a"].client.get(f"/api/v1/tickets/{ticket.id}/comments/").json()
    assert agent_view["count"] == 2 and customer_view["count"] == 1
    assert [c["body"] for c in customer_view["results"]] == ["public answer"]
    for url in (f"/api/v1/tickets/{ticket.id}/", f"/api/v1/tickets/{ticket.id}/history/", "/api/v1/tickets/"):
        assert "difficult" not in actors["customer_a"].client.get(url).content.decode()


def test_customer_cannot_open_a_ticket_for_someone_else(actors):
    response = actors["customer_a"].client.post(
        "/api/v1/tickets/", {"subject": "x", "requester_id": str(actors["customer_b"].user.id)}, format="json"
    )
    assert response.status_code == 403 and not Ticket.objects.exists()
    on_behalf = actors["agent"].client.post(
        "/api/v1/tickets/", {"subject": "phoned in", "requester_id": str(actors["customer_b"].user.id)}, format="json"
    )
    assert on_behalf.status_code == 201
    assert actors["customer_b"].client.get(f"/api/v1/tickets/{on_behalf.json()['id']}/").status_code == 200
