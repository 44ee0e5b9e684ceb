import pytest

from hdms_platform.testing.pytest_plugin import Caller

from .factories import TicketFactory


@pytest.fixture
def actors(caller) -> dict[str, Caller]:
    """customer A (owns the tickets), customer B, an agent, an admin."""
    return {
        "customer_a": caller("customer", name="customer_a"),
        "customer_b": caller("customer", name="customer_b"),
        "agent": caller("agent", name="agent"),
        "admin": caller("admin", name="admin"),
    }


@pytest.fixture
def ticket(db, actors):
    return TicketFactory(requester_id=actors["customer_a"].user.id)
