"""Whatever happens while a file is processed, it ends `ready` or `rejected`, never stuck."""

import io
import uuid

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from apps.attachments import services
from apps.attachments.models import Attachment

from .conftest import png_bytes

pytestmark = pytest.mark.django_db


def stored(content: bytes, mime: str) -> Attachment:
    attachment = Attachment(ticket_id=uuid.uuid4(), owner_id=uuid.uuid4(), filename="f", mime=mime, size=len(content))
    attachment.storage_key = default_storage.save(f"attachments/test/{uuid.uuid4()}", ContentFile(content))
    attachment.save()
    return attachment


def test_a_memory_error_while_decoding_rejects_the_file(monkeypatch):
    attachment = stored(png_bytes(), "image/png")

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(Image.Image, "load", exhausted)
    result = services.attachment_process(attachment_id=attachment.id)
    assert result.status == Attachment.Status.REJECTED and "MemoryError" in result.rejection_reason


def test_a_file_that_keeps_killing_the_worker_is_rejected_not_retried_forever():
    attachment = stored(png_bytes(), "image/png")
    Attachment.objects.filter(pk=attachment.pk).update(
        status=Attachment.Status.PROCESSING, processing_attempts=services.MAX_PROCESSING_ATTEMPTS
    )
    result = services.attachment_process(attachment_id=attachment.id)
    assert result.status == Attachment.Status.REJECTED and "failed" in result.rejection_reason


def test_an_image_is_decoded_only_as_the_format_it_was_sniffed_as():
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "GIF")
    attachment = stored(buffer.getvalue(), "image/gif")
    with pytest.raises(Exception, match="cannot identify"):
        services._thumbnail(attachment, "image/png", {})  # GIF bytes are never handed to the PNG decoder's rivals
    assert services._thumbnail(attachment, "image/gif", {})  # as what they are, they decode


def test_safe_filename_never_fails():
    for name in ("..", "...", "/", "..\\..", "???", ""):
        assert services.safe_filename(name, "text/plain") == "attachment.txt"
    assert services.safe_filename("../../etc/passwd", "text/plain") == "passwd.txt"
