"""List filters, ordering, pagination, and a bounded number of queries whatever the page holds."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.tickets.models import Ticket

from .factories import CommentFactory, TicketFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def board(actors):
    a, agent = actors["customer_a"].user.id, actors["agent"].user.id
    old = timezone.now() - dt.timedelta(days=3)
    return {
        "printer": TicketFactory(subject="Printer jams", requester_id=a, priority="high", updated_at=old),
        "vpn": TicketFactory(subject="VPN drops", requester_id=a, status="pending", assignee_id=agent),
        "invoice": TicketFactory(subject="Invoice VAT", priority="urgent", status="resolved", assignee_id=agent),
        "login": TicketFactory(subject="Cannot login", priority="low"),
    }


def _ids(response):
    assert response.status_code == 200, response.json()
    return [t["subject"] for t in response.json()["results"]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "pending"}, {"VPN drops"}),
        ({"status": ["pending", "resolved"]}, {"VPN drops", "Invoice VAT"}),
        ({"priority": "urgent"}, {"Invoice VAT"}),
        ({"assignee": "me"}, {"VPN drops", "Invoice VAT"}),
        ({"assignee": "none"}, {"Printer jams", "Cannot login"}),
        ({"search": "vpn"}, {"VPN drops"}),
    ],
)
def test_filters(actors, board, params, expected):
    assert set(_ids(actors["agent"].client.get("/api/v1/tickets/", params))) == expected


def test_requester_and_updated_since_filters(actors, board):
    client = actors["agent"].client
    assert set(_ids(client.get("/api/v1/tickets/", {"requester": str(actors["customer_a"].user.id)}))) == {
        "Printer jams",
        "VPN drops",
    }
    since = (timezone.now() - dt.timedelta(days=1)).isoformat()
    assert "Printer jams" not in _ids(client.get("/api/v1/tickets/", {"updated_since": since}))


def test_ordering(actors, board):
    client = actors["agent"].client
    assert _ids(client.get("/api/v1/tickets/", {"ordering": "-priority"}))[:2] == ["Invoice VAT", "Printer jams"]
    assert _ids(client.get("/api/v1/tickets/", {"ordering": "priority"}))[0] == "Cannot login"
    assert _ids(client.get("/api/v1/tickets/"))[-1] == "Printer jams"  # default: most recently updated first


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "frozen"}, "status"),
        ({"assignee": "nobody"}, "assignee"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"ordering": "subject; drop table"}, "ordering"),
        ({"requester": "1"}, "requester"),
    ],
)
def test_bad_filters_are_named(actors, params, field):
    response = actors["agent"].client.get("/api/v1/tickets/", params)
    assert response.status_code == 400 and field in response.json()["error"]["fields"]


def test_pagination_has_a_total_and_a_capped_page_size(actors):
    TicketFactory.create_batch(120)
    body = actors["agent"].client.get("/api/v1/tickets/", {"page_size": 1000}).json()
    assert body["count"] == 120 and len(body["results"]) == 100 and body["next"]
    second = actors["agent"].client.get("/api/v1/tickets/", {"page_size": 50, "page": 3}).json()
    assert len(second["results"]) == 20 and second["next"] is None
    assert actors["agent"].client.get("/api/v1/tickets/", {"page": 99}).status_code == 404


@pytest.mark.parametrize("rows", [5, 60])
def test_list_queries_do_not_grow_with_the_page(actors, django_assert_max_num_queries, rows):
    for ticket in TicketFactory.create_batch(rows):
        CommentFactory(ticket=ticket)
    with django_assert_max_num_queries(2):  # one COUNT, one SELECT; no per-row queries
        response = actors["agent"].client.get("/api/v1/tickets/", {"page_size": 100})
    assert response.json()["count"] == rows


def test_comment_and_history_lists_are_bounded_too(actors, ticket, django_assert_max_num_queries):
    CommentFactory.create_batch(30, ticket=ticket)
    with django_assert_max_num_queries(3):  # the access check, COUNT, SELECT
        assert actors["agent"].client.get(f"/api/v1/tickets/{ticket.id}/comments/").json()["count"] == 30
    with django_assert_max_num_queries(3):
        actors["agent"].client.get(f"/api/v1/tickets/{ticket.id}/history/")


def test_tickets_count_is_correct_for_each_scope(actors, board):
    assert actors["customer_a"].client.get("/api/v1/tickets/").json()["count"] == 2
    assert actors["customer_b"].client.get("/api/v1/tickets/").json()["count"] == 0
    assert actors["admin"].client.get("/api/v1/tickets/").json()["count"] == Ticket.objects.count()
