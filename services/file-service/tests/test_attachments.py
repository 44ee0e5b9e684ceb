import uuid

import pytest
from django.conf import settings

from apps.attachments.models import Attachment
from apps.attachments.tasks import ping


@pytest.mark.django_db
def test_attachment_starts_pending_with_empty_digest():
    attachment = Attachment.objects.create(ticket_id=uuid.uuid4(), owner_id=uuid.uuid4(), filename="a.txt", storage_key="k")
    attachment.refresh_from_db()
    assert attachment.status == Attachment.Status.PENDING and attachment.sha256 == "" and attachment.metadata == {}


def test_ping_task_answers_its_nonce():
    assert ping.run("abc") == "pong:abc"


def test_celery_settings_come_from_the_platform():
    assert settings.CELERY_TASK_DEFAULT_QUEUE == "hdms.file"
    assert settings.CELERY_BROKER_URL.endswith("/2")
    assert ping.acks_late is True
