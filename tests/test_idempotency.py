"""Safe retries: the same Idempotency-Key returns the first answer and creates nothing new — after
a lost answer, twice at once, for tickets, comments and uploads — and is refused for another request."""

from __future__ import annotations

import threading
import uuid

import httpx
import pytest

from .conftest import db_connect, manage, service_url
from .helpdesk import Helpdesk, png


@pytest.fixture(scope="module")
def desk(stack_env) -> Helpdesk:
    assert manage("user", "seed_dev_data").returncode == 0
    return Helpdesk(stack_env)


def post(stack_env, service, path, who, key, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {who.token}", **({"Idempotency-Key": key} if key else {})}
    return httpx.post(f"{service_url(stack_env, service)}{path}", headers=headers, timeout=kwargs.pop("timeout", 10), **kwargs)


def count(stack_env, service: str, sql: str, *params) -> int:
    with db_connect(stack_env, service) as conn:
        return conn.execute(sql, params).fetchone()[0]


def test_a_retried_ticket_create_returns_the_first_ticket_and_creates_no_second(desk, stack_env):
    customer = desk.customer()
    key = str(uuid.uuid4())
    subject = f"printer {uuid.uuid4().hex}"
    first = post(stack_env, "ticket", "/api/v1/tickets/", customer, key, json={"subject": subject})
    again = post(stack_env, "ticket", "/api/v1/tickets/", customer, key, json={"subject": subject})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert count(stack_env, "ticket", "SELECT count(*) FROM tickets_ticket WHERE subject = %s", subject) == 1
    # without a key, the same body is a new ticket (keys are opt-in)
    assert (
        post(stack_env, "ticket", "/api/v1/tickets/", customer, None, json={"subject": subject}).json()["id"]
        != first.json()["id"]
    )


def test_an_answer_the_client_never_saw_is_given_to_its_retry(desk, stack_env):
    """The client gives up before the answer (as after a dropped connection or the mid-COMMIT 503):
    it cannot know whether the ticket exists. The retry with the same key tells it, and adds none."""
    customer = desk.customer()
    key, subject = str(uuid.uuid4()), f"lost answer {uuid.uuid4().hex}"
    with pytest.raises(httpx.TimeoutException):
        post(
            stack_env,
            "ticket",
            "/api/v1/tickets/",
            customer,
            key,
            json={"subject": subject},
            timeout=httpx.Timeout(5, read=0.001),
        )
    retry = post(stack_env, "ticket", "/api/v1/tickets/", customer, key, json={"subject": subject})
    assert retry.status_code == 201 and retry.json()["subject"] == subject
    assert count(stack_env, "ticket", "SELECT count(*) FROM tickets_ticket WHERE subject = %s", subject) == 1


def test_two_concurrent_requests_with_one_key_create_one_comment(desk, stack_env):
    customer = desk.customer()
    ticket = desk.ticket(customer)
    key, body = str(uuid.uuid4()), f"same comment {uuid.uuid4().hex}"
    answers: list[httpx.Response] = []
    barrier = threading.Barrier(4)

    def send():
        barrier.wait()
        answers.append(post(stack_env, "ticket", f"/api/v1/tickets/{ticket['id']}/comments/", customer, key, json={"body": body}))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert count(stack_env, "ticket", "SELECT count(*) FROM tickets_comment WHERE body = %s", body) == 1


def test_a_retried_upload_is_one_attachment(desk, stack_env):
    customer = desk.customer()
    ticket = desk.ticket(customer)
    key = str(uuid.uuid4())
    answers = [
        post(
            stack_env,
            "file",
            "/api/v1/attachments/",
            customer,
            key,
            data={"ticket_id": ticket["id"]},
            files={"file": ("a.png", png(), "image/png")},
        )
        for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [201, 201] and answers[0].json()["id"] == answers[1].json()["id"]
    assert count(stack_env, "file", "SELECT count(*) FROM attachments_attachment WHERE ticket_id = %s", ticket["id"]) == 1


def test_one_key_for_another_request_is_refused_and_keys_are_per_user(desk, stack_env):
    alice, bob = desk.customer(), desk.customer()
    key = str(uuid.uuid4())
    assert post(stack_env, "ticket", "/api/v1/tickets/", alice, key, json={"subject": "first"}).status_code == 201
    reused = post(stack_env, "ticket", "/api/v1/tickets/", alice, key, json={"subject": "something else"})
    assert reused.status_code == 422 and reused.json()["error"]["code"] == "idempotency_key_reused"
    # the same key string from another user is another key
    other = post(stack_env, "ticket", "/api/v1/tickets/", bob, key, json={"subject": "bob's"})
    assert other.status_code == 201 and other.json()["subject"] == "bob's"
    # a refused request stores nothing: corrected, the same key works
    bad_key = str(uuid.uuid4())
    assert post(stack_env, "ticket", "/api/v1/tickets/", alice, bad_key, json={"subject": ""}).status_code == 400
    assert post(stack_env, "ticket", "/api/v1/tickets/", alice, bad_key, json={"subject": "fixed"}).status_code == 201
    malformed = post(stack_env, "ticket", "/api/v1/tickets/", alice, "has spaces in it", json={"subject": "x"})
    assert malformed.status_code == 400 and "Idempotency-Key" in malformed.json()["error"]["fields"]
