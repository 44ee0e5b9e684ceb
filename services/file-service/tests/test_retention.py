"""Retention on file-service: an upload never processed is abandoned after ATTACHMENT_PENDING_HOURS,
with its bytes and an audit entry; nothing else is touched."""

import uuid
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from apps.attachments.models import Attachment
from hdms_platform.db import retention
from hdms_platform.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)


def _attachment(status: str, age_hours: float) -> Attachment:
    ticket_id, attachment_id = uuid.uuid4(), uuid.uuid4()
    key = default_storage.save(f"attachments/{ticket_id}/{attachment_id}", ContentFile(b"bytes"))
    return Attachment.objects.create(
        id=attachment_id,
        ticket_id=ticket_id,
        owner_id=uuid.uuid4(),
        filename="a.txt",
        storage_key=key,
        status=status,
        created_at=timezone.now() - timedelta(hours=age_hours),
    )


def test_an_upload_pending_past_the_limit_goes_with_its_bytes_and_is_audited(settings, django_capture_on_commit_callbacks):
    settings.ATTACHMENT_PENDING_HOURS = 24
    abandoned = _attachment(Attachment.Status.PENDING, 25)
    waiting = _attachment(Attachment.Status.PENDING, 23)
    finished = _attachment(Attachment.Status.READY, 100)

    with django_capture_on_commit_callbacks(execute=True):
        done = retention.run()

    assert done["abandoned_uploads_purge"] == 1
    assert set(Attachment.objects.values_list("id", flat=True)) == {waiting.id, finished.id}
    assert not default_storage.exists(abandoned.storage_key)
    assert default_storage.exists(waiting.storage_key) and default_storage.exists(finished.storage_key)
    entries = AuditEntry.objects.filter(
        action="attachment.abandoned", target_id__in=[str(a.id) for a in (abandoned, waiting, finished)]
    )
    assert [(e.target_id, e.details["ticket_id"]) for e in entries] == [(str(abandoned.id), str(abandoned.ticket_id))]
