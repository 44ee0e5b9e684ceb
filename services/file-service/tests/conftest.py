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


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Each test's files in a folder of its own, not in the stack's FILE_STORAGE_DIR: the running
    file-service (another user natively) must not meet folders these tests made there as root."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"
