import io
import uuid

import pytest
from PIL import Image
from rest_framework.test import APIClient

from hdms_platform.testing.tokens import make_access_token


def png_bytes(size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def agent():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_access_token(roles=('agent',))}")
    return client


@pytest.fixture
def ticket_id():
    return uuid.uuid4()
