import io
import uuid

import pytest
from PIL import Image


def png_bytes(size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def agent(caller):
    return caller("agent").client


@pytest.fixture
def ticket_id():
    return uuid.uuid4()
