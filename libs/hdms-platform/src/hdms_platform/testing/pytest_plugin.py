"""pytest plugin shared by every service's suite.

Tests run against the private stack `make test` starts (real PostgreSQL through PgBouncer in
transaction mode, real Redis). Its databases are migrated before the suites run, so pytest-django
uses them as they are and rolls every test back; nothing is created or left behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # imported when used: a plugin is loaded before Django is set up
    from rest_framework.test import APIClient

    from hdms_platform.auth.tokens import TokenUser


@dataclass
class Caller:
    """Someone signed in: the user their access token names, and an API client that sends it."""

    name: str
    user: TokenUser
    client: APIClient


@pytest.fixture
def caller() -> Callable[..., Caller]:
    """`caller("agent")`, `caller("customer", name="bob")`: a fresh user id, an access token signed
    with the stack's own key (the API checks it as it checks any), and a client sending it."""

    from rest_framework.test import APIClient

    from hdms_platform.auth.tokens import TokenUser
    from hdms_platform.testing.tokens import make_access_token

    def make(*roles: str, name: str = "someone") -> Caller:
        user_id, email = uuid.uuid4(), f"{name}@example.com"
        token = make_access_token(user_id=user_id, roles=roles or ("customer",), email=email)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        user = TokenUser(id=user_id, email=email, roles=roles or ("customer",), token=token)
        return Caller(name, user, client)

    return make


@pytest.fixture(scope="session")
def django_db_setup() -> Iterator[None]:
    """Use the stack's already-migrated databases (through PgBouncer); never create test databases."""
    yield


@pytest.fixture(autouse=True)
def _isolated_cache(settings: Any) -> None:
    """A per-test cache key prefix on the real Redis, so tests never see each other's keys."""
    default = {**settings.CACHES["default"]}
    default["KEY_PREFIX"] = f"{default['KEY_PREFIX']}:test:{uuid.uuid4().hex[:8]}"
    settings.CACHES = {**settings.CACHES, "default": default}
