import pytest
from rest_framework.test import APIClient

from apps.accounts.models import User

from .factories import PASSWORD, UserFactory


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def make_user(db):
    def make(email: str = "alice@example.com", roles=("customer",), password: str = PASSWORD) -> User:
        return UserFactory(email=email, password=password, roles=list(roles))

    return make


@pytest.fixture
def login(api):
    def do(email: str, password: str = PASSWORD, address: str = "10.0.0.1", device: str | None = None):
        body = {"email": email, "password": password, **({"device": device} if device is not None else {})}
        return api.post("/api/v1/auth/login/", body, format="json", REMOTE_ADDR=address)

    return do


@pytest.fixture
def bearer():
    def client(access: str) -> APIClient:
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        return c

    return client
