import hashlib
import uuid

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps.attachments.models import Attachment
from hdms_platform.testing.seed import TICKETS, USERS, SeedCommand

ATTACHMENT_ID = uuid.UUID("00000000-0000-4000-a000-000000000001")
CONTENT = b"Printer model: LJ-4000, error code 13.2\n"


class Command(SeedCommand):
    def seed(self) -> int:
        if Attachment.objects.filter(id=ATTACHMENT_ID).exists():
            return 0
        key = default_storage.save(f"attachments/{ATTACHMENT_ID}/printer-error.txt", ContentFile(CONTENT))
        Attachment.objects.create(
            id=ATTACHMENT_ID,
            ticket_id=TICKETS["printer"][0],
            owner_id=USERS["alice"][0],
            type=Attachment.Kind.DOCUMENT,
            filename="printer-error.txt",
            storage_key=key,
            status=Attachment.Status.READY,
            sha256=hashlib.sha256(CONTENT).hexdigest(),
            mime="text/plain",
            size=len(CONTENT),
        )
        return 1
