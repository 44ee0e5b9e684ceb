"""A ticket detail this process already holds (its copy of the cached entry, the caller's verified
token) is answered without DRF's per-request machinery (hdms_platform.web.fastpath): the same bytes and
headers as the full path, the same token check and access rule. Anything else takes the full path.

On the real Redis, committing for real, as production reads and invalidates.
"""

import time

import pytest
from rest_framework.test import APIClient
from rest_framework.views import APIView

from hdms_platform.observability import logging as hdms_logging

from .test_ticket_cache import _delta, snapshot

pytestmark = pytest.mark.django_db(transaction=True)

# Headers that differ between any two responses, whichever path answers.
PER_RESPONSE = {"X-Request-ID"}


@pytest.fixture
def full_path(monkeypatch) -> list[str]:
    """The paths of the requests that went through DRF's dispatch (its `initial` step)."""
    seen: list[str] = []
    initial = APIView.initial

    def counted(self, request, *args, **kwargs):
        seen.append(request.path)
        return initial(self, request, *args, **kwargs)

    monkeypatch.setattr(APIView, "initial", counted)
    return seen


def _answer(response) -> tuple:
    return response.status_code, response.content, {k: v for k, v in response.headers.items() if k not in PER_RESPONSE}


def _copied(client: APIClient, url: str, full_path: list[str]):
    """Read until this process answers from its copy. The first read stores the entry in Redis, and
    Redis' invalidation for that store may retire the first copy: a few reads, not one."""
    for _ in range(50):
        before = len(full_path)
        response = client.get(url)
        if len(full_path) == before:
            return response
        time.sleep(0.05)
    raise AssertionError(f"{url} never answered from this process's copy")


def test_a_copied_detail_skips_drf_with_the_full_paths_bytes_and_headers(actors, ticket, full_path):
    url = f"/api/v1/tickets/{ticket.id}/"
    client = actors["agent"].client
    full = client.get(url)  # a miss: the full path (and the entry is stored)
    assert full_path[:1] == [url] and full.status_code == 200
    before = snapshot()
    fast = _copied(client, url, full_path)
    assert _answer(fast) == _answer(full)
    assert fast.json()["id"] == str(ticket.id) and fast.headers["Allow"] == "GET, PATCH, HEAD, OPTIONS"
    assert _delta(before, "ticket_detail_hit") >= 1  # still counted as a cache hit


def test_the_shortcut_keeps_the_token_check_and_the_access_rule(actors, ticket, full_path, caller):
    url = f"/api/v1/tickets/{ticket.id}/"
    _copied(actors["agent"].client, url, full_path)
    full_path.clear()

    owner = actors["customer_a"].client
    assert owner.get(url).status_code == 200 and full_path == [url]  # a token new here: DRF verifies it
    assert owner.get(url).status_code == 200 and full_path == [url]  # now known: from memory
    full_path.clear()

    before = snapshot()
    for _ in range(2):  # the access rule, once the stranger's token is known here too: 404
        stranger = actors["customer_b"].client.get(url)
        assert stranger.status_code == 404 and stranger.json()["error"]["code"] == "not_found"
    assert _delta(before, "ticket_detail_hit") == 2  # one per read: a refused shortcut counts nothing

    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION=f"Bearer {actors['agent'].user.token[:-4]}AAAA")
    rejected = forged.get(url)
    assert rejected.status_code == 401 and rejected.json()["error"]["code"] == "token_invalid"
    assert rejected.headers["WWW-Authenticate"] == 'Bearer realm="hdms"'

    anonymous = APIClient().get(url)
    assert anonymous.status_code == 401 and "error" in anonymous.json()
    assert full_path == [url] * 4  # each refusal came from the full path


@pytest.mark.parametrize(
    ("headers", "query", "status", "body_starts"),
    [
        ({"HTTP_ACCEPT": "text/html"}, "", 406, b'{"error"'),
        ({"HTTP_ACCEPT": "application/json; indent=2"}, "", 200, b'{\n  "id"'),
        ({}, "?format=json", 200, b'{"id"'),
        ({}, "?format=xml", 404, b'{"error"'),
    ],
)
def test_anything_but_a_plain_json_get_takes_the_full_path(actors, ticket, full_path, headers, query, status, body_starts):
    url = f"/api/v1/tickets/{ticket.id}/"
    client = actors["agent"].client
    _copied(client, url, full_path)
    full_path.clear()
    response = client.get(url + query, **headers)
    assert (response.status_code, response.content[: len(body_starts)]) == (status, body_starts)
    assert full_path == [url]


def test_the_access_log_names_the_user_a_shortcut_answered(actors, ticket, full_path, monkeypatch):
    url = f"/api/v1/tickets/{ticket.id}/"
    _copied(actors["agent"].client, url, full_path)
    logged: list[str | None] = []
    user_id = hdms_logging._user_id
    monkeypatch.setattr(hdms_logging, "_user_id", lambda request: logged.append(user_id(request)) or logged[-1])
    actors["customer_a"].client.get(url)  # the full path verifies the token
    full_path.clear()
    assert actors["customer_a"].client.get(url).status_code == 200 and full_path == []
    assert logged[-1] == str(actors["customer_a"].user.id)


def test_a_view_with_other_permissions_never_takes_the_shortcut(actors, ticket, full_path):
    """The shortcut assumes 'signed in' is the whole permission check: a view asking more (here,
    staff only) always goes through DRF, which refuses the customer the copy would have served."""
    from rest_framework.test import APIRequestFactory

    from apps.tickets.apis import TicketDetailApi
    from hdms_platform.auth.tokens import IsStaffMember

    class StaffOnlyDetail(TicketDetailApi):
        permission_classes = [IsStaffMember]

    url = f"/api/v1/tickets/{ticket.id}/"
    owner = actors["customer_a"]
    _copied(owner.client, url, full_path)  # the copy is here and the owner's token is known
    full_path.clear()
    request = APIRequestFactory().get(url, HTTP_AUTHORIZATION=f"Bearer {owner.user.token}")
    response = StaffOnlyDetail.as_view()(request, ticket_id=ticket.id)
    assert response.status_code == 403 and full_path == [url]
