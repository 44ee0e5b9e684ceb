import uuid
from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from hdms_platform.auth import TokenUser
from hdms_platform.testing.tokens import make_access_token

from .factories import TicketFactory


@dataclass
class Actor:
    name: str
    user: TokenUser
    client: APIClient


def _actor(name: str, roles: tuple[str, ...]) -> Actor:
    user_id = uuid.uuid4()
    token = make_access_token(user_id=user_id, roles=roles, email=f"{name}@example.com")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return Actor(name, TokenUser(id=user_id, email=f"{name}@example.com", roles=roles, token=token), client)


@pytest.fixture
def actors() -> dict[str, Actor]:
    """customer A (owns the tickets), customer B, an agent, an admin."""
    return {
        "customer_a": _actor("customer_a", ("customer",)),
        "customer_b": _actor("customer_b", ("customer",)),
        "agent": _actor("agent", ("agent",)),
        "admin": _actor("admin", ("admin",)),
    }


@pytest.fixture
def ticket(db, actors):
    return TicketFactory(requester_id=actors["customer_a"].user.id)
