import uuid

import factory
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps.attachments.models import Attachment


class AttachmentFactory(factory.django.DjangoModelFactory):
    """A stored upload still `pending`, its bytes really in the storage (the worker reads them)."""

    class Meta:
        model = Attachment

    ticket_id = factory.LazyFunction(uuid.uuid4)
    owner_id = factory.LazyFunction(uuid.uuid4)
    filename = "a.txt"
    mime = "text/plain"
    storage_key = factory.LazyAttribute(
        lambda o: default_storage.save(f"attachments/{o.ticket_id}/{uuid.uuid4()}", ContentFile(b"hi"))
    )
