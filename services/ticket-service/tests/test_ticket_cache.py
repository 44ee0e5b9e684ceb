"""Cache-aside reads on the real Redis: hits, misses, freshness after every write, and Redis down.

These tests commit for real (transaction=True), so the after-commit invalidation runs as in
production.
"""

import pytest
from django.core.cache import cache
from prometheus_client import REGISTRY

from apps.tickets import caching, events
from hdms_platform.outbox.models import OutboxEvent
from hdms_platform.outbox.relay import relay_batch

from .factories import TicketFactory

pytestmark = pytest.mark.django_db(transaction=True)


SAMPLES = {
    "ticket_detail_hit": ("hdms_cache_requests_total", {"policy": "ticket_detail", "result": "hit"}),
    "ticket_detail_miss": ("hdms_cache_requests_total", {"policy": "ticket_detail", "result": "miss"}),
    "cache_errors_ignored": ("hdms_cache_errors_total", {"kind": "ignored"}),
}


def snapshot() -> dict[str, float]:
    """The cache counters this process exported (no multiprocess directory in unit tests)."""
    return {name: REGISTRY.get_sample_value(metric, labels) or 0.0 for name, (metric, labels) in SAMPLES.items()}


def _delta(before: dict, name: str) -> float:
    return snapshot()[name] - before[name]


def test_detail_is_served_from_the_cache_after_the_first_read(actors, ticket, django_assert_max_num_queries):
    client = actors["agent"].client
    before = snapshot()
    assert client.get(f"/api/v1/tickets/{ticket.id}/").status_code == 200
    with django_assert_max_num_queries(0):
        assert client.get(f"/api/v1/tickets/{ticket.id}/").json()["subject"] == ticket.subject
    assert (_delta(before, "ticket_detail_miss"), _delta(before, "ticket_detail_hit")) == (1, 1)
    assert cache.get(caching.detail_key(ticket.id))["id"] == str(ticket.id)


def test_the_cached_detail_still_applies_the_access_rule(actors, ticket):
    assert actors["agent"].client.get(f"/api/v1/tickets/{ticket.id}/").status_code == 200  # now cached
    assert actors["customer_b"].client.get(f"/api/v1/tickets/{ticket.id}/").status_code == 404
    assert actors["customer_a"].client.get(f"/api/v1/tickets/{ticket.id}/").status_code == 200


@pytest.mark.parametrize(
    ("write", "field", "expected"),
    [
        (lambda c, t: c.patch(f"/api/v1/tickets/{t.id}/", {"subject": "Fresh"}, format="json"), "subject", "Fresh"),
        (lambda c, t: c.post(f"/api/v1/tickets/{t.id}/transition/", {"status": "pending"}, format="json"), "status", "pending"),
        (lambda c, t: c.post(f"/api/v1/tickets/{t.id}/assign/", {"assignee_id": None}, format="json"), "assignee_id", None),
    ],
)
def test_a_read_after_a_write_is_never_stale(actors, write, field, expected):
    ticket = TicketFactory(requester_id=actors["customer_a"].user.id, assignee_id=actors["agent"].user.id)
    client = actors["agent"].client
    client.get(f"/api/v1/tickets/{ticket.id}/")  # warm the detail entry
    client.get("/api/v1/tickets/")  # and the list page
    assert write(client, ticket).status_code == 200
    assert client.get(f"/api/v1/tickets/{ticket.id}/").json()[field] == expected
    assert client.get("/api/v1/tickets/").json()["results"][0][field] == expected


def test_list_pages_are_cached_per_scope_and_retired_by_any_write(actors, django_assert_max_num_queries):
    TicketFactory.create_batch(3, requester_id=actors["customer_a"].user.id)
    agent, customer_b = actors["agent"].client, actors["customer_b"].client
    assert agent.get("/api/v1/tickets/").json()["count"] == 3
    with django_assert_max_num_queries(0):
        assert agent.get("/api/v1/tickets/").json()["count"] == 3
    assert customer_b.get("/api/v1/tickets/").json()["count"] == 0  # never the agent's cached page
    actors["customer_b"].client.post("/api/v1/tickets/", {"subject": "new one"}, format="json")
    assert agent.get("/api/v1/tickets/").json()["count"] == 4
    assert customer_b.get("/api/v1/tickets/").json()["count"] == 1


def test_everything_works_from_postgresql_with_redis_down(actors, ticket, settings):
    settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}
    client = actors["agent"].client
    before = snapshot()
    assert client.get(f"/api/v1/tickets/{ticket.id}/").status_code == 200
    assert client.patch(f"/api/v1/tickets/{ticket.id}/", {"subject": "Written without Redis"}, format="json").status_code == 200
    assert client.get(f"/api/v1/tickets/{ticket.id}/").json()["subject"] == "Written without Redis"
    assert client.get("/api/v1/tickets/").json()["results"][0]["subject"] == "Written without Redis"
    assert _delta(before, "ticket_detail_hit") == 0 and _delta(before, "cache_errors_ignored") > 0


def test_an_entry_cached_before_an_outage_is_dropped_by_the_relay_once_redis_is_back(actors, ticket, settings):
    client = actors["agent"].client
    client.get(f"/api/v1/tickets/{ticket.id}/")  # cached with the old subject
    healthy = settings.CACHES
    settings.CACHES = {**healthy, "default": {**healthy["default"], "LOCATION": "redis://127.0.0.1:1/0"}}
    client.patch(f"/api/v1/tickets/{ticket.id}/", {"subject": "Changed during the outage"}, format="json")
    published = []
    assert relay_batch(publish=events.publish).failed == 1  # Redis still down: the event waits
    settings.CACHES = healthy
    assert client.get(f"/api/v1/tickets/{ticket.id}/").json()["subject"] == ticket.subject  # stale, for now
    result = relay_batch(publish=lambda e: (caching.invalidate_strictly(e["ticket_id"]), published.append(e)))
    assert result.published == 1 and published[0]["type"] == "ticket.updated"
    assert client.get(f"/api/v1/tickets/{ticket.id}/").json()["subject"] == "Changed during the outage"
    assert OutboxEvent.objects.get().attempts == 2


def test_a_detail_read_keeps_a_process_copy_and_this_process_write_drops_it(actors, ticket):
    import time

    copies = caching.detail_copies()
    key = cache.make_key(caching.detail_key(ticket.id))
    client = actors["agent"].client
    deadline = time.monotonic() + 5
    while copies.get(key) is None:  # tracking comes up, then a read from Redis is kept
        assert time.monotonic() < deadline, "no process copy was kept of a read detail"
        assert client.get(f"/api/v1/tickets/{ticket.id}/").status_code == 200
        time.sleep(0.05)
    assert client.patch(f"/api/v1/tickets/{ticket.id}/", {"subject": "Changed here"}, format="json").status_code == 200
    assert copies.get(key) is None or copies.get(key)["subject"] == "Changed here"
    assert client.get(f"/api/v1/tickets/{ticket.id}/").json()["subject"] == "Changed here"


def test_a_list_read_keeps_process_copies_and_every_write_retires_them(actors, ticket):
    import time

    from django_redis import get_redis_connection

    copies = caching.list_copies()
    generation = cache.make_key(caching.LIST_GENERATION_KEY)
    client = actors["agent"].client
    deadline = time.monotonic() + 5
    while copies.get(generation) is None:  # tracking comes up, then the token read from Redis is kept
        assert time.monotonic() < deadline, "no process copy was kept of the list generation"
        assert client.get("/api/v1/tickets/").status_code == 200
        time.sleep(0.05)
    token = copies.get(generation)
    # a write in this process: the copy goes at once, and the next page shows the write
    assert client.patch(f"/api/v1/tickets/{ticket.id}/", {"subject": "Changed here"}, format="json").status_code == 200
    assert copies.get(generation) in (None, cache.get(caching.LIST_GENERATION_KEY))
    assert copies.get(generation) != token
    assert [t["subject"] for t in client.get("/api/v1/tickets/").json()["results"]] == ["Changed here"]
    # a write by another process (here: another client of the same Redis) retires this one's copy
    token = copies.get(generation) or cache.get(caching.LIST_GENERATION_KEY)
    get_redis_connection("default").set(generation, cache.client.encode("from-another-process"))
    deadline = time.monotonic() + 2
    while copies.get(generation) == token:
        assert time.monotonic() < deadline, "another client's write did not retire this process's copy"
        time.sleep(0.01)
    assert caching.list_generation() == "from-another-process"
