"""Bad input over real HTTP (gunicorn, every JSON-speaking service): a 4xx with the JSON error
model naming the problem, never a 500 or an HTML page, and nothing already stored is lost."""

from __future__ import annotations

import httpx
import pytest

from .conftest import manage
from .helpdesk import Helpdesk, Person, png, upload

MB = 1024 * 1024


@pytest.fixture(scope="module")
def desk(stack_env) -> Helpdesk:
    assert manage("user", "seed_dev_data").returncode == 0
    return Helpdesk(stack_env)


@pytest.fixture(scope="module")
def customer(desk) -> Person:
    return desk.customer()


@pytest.fixture(scope="module")
def ticket(desk, customer) -> dict:
    return desk.ticket(customer, "Keep me intact")


def targets(ticket_id: str) -> list[tuple[str, str, str]]:
    return [
        ("user", "PATCH", "/api/v1/users/me/"),
        ("ticket", "POST", "/api/v1/tickets/"),
        ("ticket", "PATCH", f"/api/v1/tickets/{ticket_id}/"),
        ("ticket", "POST", f"/api/v1/tickets/{ticket_id}/comments/"),
    ]


BODIES = {
    "malformed JSON": (b'{"subject": "unterminated', "application/json", 400),
    "bad UTF-8": (b'{"subject": "caf\xe9 \xff\xfe"}', "application/json", 400),
    "NUL in a string": (
        b'{"subject": "a\\u0000b", "body": "a\\u0000b", "settings": {"k": "a\\u0000b"}}',
        "application/json",
        400,
    ),
    "unpaired surrogate": (b'{"subject": "\\ud800", "body": "\\ud800", "settings": {"k": "\\ud800"}}', "application/json", 400),
    "nested 100,000 deep": (b"[" * 100_000 + b"]" * 100_000, "application/json", 400),
    "a JSON array, not an object": (b"[1, 2, 3]", "application/json", 400),
    "wrong types": (b'{"subject": 12, "body": ["x"], "priority": {"p": 1}, "settings": "dark"}', "application/json", 400),
    "not JSON at all": (b"subject=hi", "application/x-www-form-urlencoded", 415),
    "3 MB body": (b'{"subject": "' + b"x" * (3 * MB) + b'"}', "application/json", 413),
}


@pytest.mark.parametrize("case", list(BODIES))
def test_bad_bodies_get_a_json_4xx_and_store_nothing(desk, customer, ticket, case):
    body, content_type, expected = BODIES[case]
    for service, method, path in targets(ticket["id"]):
        response = httpx.request(
            method,
            desk.urls[service] + path,
            content=body,
            timeout=30,
            headers={"Authorization": f"Bearer {customer.token}", "Content-Type": content_type},
        )
        assert response.status_code == expected, (service, method, path, response.status_code, response.text[:300])
        assert response.headers["content-type"].startswith("application/json"), (path, response.headers["content-type"])
        error = response.json()["error"]
        assert error["code"] and error["message"], error
    stored = desk.call("ticket", "GET", f"/api/v1/tickets/{ticket['id']}/", customer).json()
    assert stored["subject"] == "Keep me intact" and stored["description"] == ticket["description"]
    comments = desk.call("ticket", "GET", f"/api/v1/tickets/{ticket['id']}/comments/", customer).json()
    assert comments["count"] == 0


def test_wrong_types_name_each_field(desk, customer):
    response = desk.call("ticket", "POST", "/api/v1/tickets/", customer, json={"subject": ["x"], "priority": 7})
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"subject", "priority"}


def test_oversize_and_malformed_uploads(desk, customer, ticket):
    too_big = upload(desk, customer, ticket["id"], "big.png", png() + b"\0" * (26 * MB), "image/png")
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "too_large", too_big.text[:300]
    no_file = desk.call("file", "POST", "/api/v1/attachments/", customer, files={"ticket_id": (None, ticket["id"])})
    assert no_file.status_code == 400 and "file" in no_file.json()["error"]["fields"]
    bad_ticket = upload(desk, customer, "not-a-uuid", "a.png", png(), "image/png")
    assert bad_ticket.status_code == 400 and "ticket_id" in bad_ticket.json()["error"]["fields"]
    as_json = desk.call("file", "POST", "/api/v1/attachments/", customer, json={"ticket_id": ticket["id"]})
    assert as_json.status_code == 415 and as_json.json()["error"]["code"] == "unsupported_media_type"
