"""Writes of the file-service: accept an upload, process it (Celery), decide ready or rejected."""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import time
import uuid
from datetime import timedelta
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.text import get_valid_filename
from PIL import Image

from hdms_platform import audit, errors
from hdms_platform.auth.tokens import TokenUser
from hdms_platform.celery.app import send
from hdms_platform.events.contracts import AttachmentReadyData, AttachmentUploadedData
from hdms_platform.outbox.services import outbox_write

from .models import Attachment
from .sniff import EXTENSIONS, HEAD_BYTES, kind_of, sniff, sniff_whole, text_with_markup

PROCESS_TASK = "hdms.file.process_attachment"  # tasks.py runs it

logger = logging.getLogger("hdms.attachments")
THUMBNAIL_SIZE = (256, 256)
MAX_IMAGE_PIXELS = 40_000_000  # larger images are refused (decompression bombs), checked exactly before decoding
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS  # Pillow's own guard as a second line (it only raises above twice this)
PILLOW_FORMAT = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}
MAX_PROCESSING_ATTEMPTS = 5  # a file that killed or hung the worker this often is rejected, not retried forever


def safe_filename(name: str, mime: str) -> str:
    """Only the last path component, only safe characters, and the extension of what it really is."""
    stem = PurePath(PurePath(name.replace("\\", "/")).name).stem.lstrip(".")
    try:
        stem = get_valid_filename(stem)[:100]
    except SuspiciousFileOperation:  # nothing usable left ("..", "???"): a safe name, not a 400
        stem = "attachment"
    return f"{stem}{EXTENSIONS.get(mime, '.bin')}"


def attachment_create(*, user: TokenUser, ticket_id: uuid.UUID, upload) -> Attachment:
    """Store the upload and record it `pending`; the outbox hands it to the worker (so a broker
    outage at upload time delays processing, never loses it). The caller has checked ticket access."""
    if upload.size > settings.ATTACHMENT_MAX_BYTES:
        refused_upload(user=user, ticket_id=ticket_id, reason="too large", size=upload.size)
        raise errors.TooLarge(f"The file is {upload.size} bytes; the limit is {settings.ATTACHMENT_MAX_BYTES}.")
    head = upload.read(HEAD_BYTES)
    upload.seek(0)
    mime = sniff_whole(head, upload.chunks())
    upload.seek(0)
    if mime not in settings.ATTACHMENT_ALLOWED_TYPES:
        refused_upload(user=user, ticket_id=ticket_id, reason=f"type {mime}", size=upload.size)
        raise errors.UnsupportedType(
            media_type=mime,
            message=f"Files of type {mime} are not accepted; allowed: {', '.join(sorted(settings.ATTACHMENT_ALLOWED_TYPES))}.",
        )
    attachment = Attachment(
        id=uuid.uuid4(),
        ticket_id=ticket_id,
        owner_id=user.id,
        type=kind_of(mime),
        filename=safe_filename(upload.name or "", mime),
        mime=mime,
        size=upload.size,
    )
    attachment.storage_key = default_storage.save(f"attachments/{ticket_id}/{attachment.id}", upload)
    with transaction.atomic():
        attachment.save(force_insert=True)
        audit.record(
            "attachment.uploaded",
            actor_id=user.id,
            target=("attachment", attachment.id),
            details={"ticket_id": str(ticket_id), "mime": mime, "size": upload.size, "filename": attachment.filename},
        )
        outbox_write(
            type="attachment.uploaded",
            ticket_id=ticket_id,
            audience="staff",
            data=AttachmentUploadedData(attachment_id=str(attachment.id)),
        )
        transaction.on_commit(lambda: _enqueue_now(attachment.id))
    return attachment


def refused_upload(*, user: TokenUser, ticket_id, reason: str, size: int | None) -> None:
    audit.record(
        "attachment.refused",
        actor_id=user.id,
        target=("ticket", ticket_id),
        outcome=audit.DENIED,
        details={"reason": reason, "size": size},
    )


def attachment_downloaded(*, user: TokenUser, attachment: Attachment, part: str = "file") -> None:
    audit.record("attachment.downloaded", actor_id=user.id, target=("attachment", attachment.id), details={"part": part})


def enqueue_processing(attachment_id: uuid.UUID | str) -> None:
    """The one way to send the processing task (to our own queue, once: the outbox is the retry);
    raises when the broker is unreachable. Used at upload and by the outbox publisher (events.py)."""
    from core.celery import app  # the Celery app is the process' (a worker's or the relay's), made at start

    send(app, PROCESS_TASK, [str(attachment_id)], "file")


def _enqueue_now(attachment_id: uuid.UUID) -> None:
    """The fast path: hand the task over at once instead of at the relay's next poll. If the broker
    is down this is skipped; the outbox row still guarantees the task. When both arrive, the second
    run finds the attachment finished and does nothing."""
    try:
        enqueue_processing(attachment_id)
    except Exception as exc:  # noqa: BLE001 - any broker failure: the outbox relay delivers it later
        logger.warning("fast enqueue of attachment %s failed (%s); the outbox relay will deliver it", attachment_id, exc)


def _inspect(attachment: Attachment) -> dict:
    """Hash, size, real type and (for images) a thumbnail. Pure function of the stored bytes."""
    digest, size, head, markup, tail = hashlib.sha256(), 0, b"", False, b""
    with default_storage.open(attachment.storage_key, "rb") as stored:
        for chunk in iter(lambda: stored.read(1024 * 1024), b""):
            head = head or chunk[:HEAD_BYTES]
            digest.update(chunk)
            size += len(chunk)
            markup = markup or text_with_markup([tail + chunk])
            tail = chunk[-2:]
    mime = sniff(head)
    if mime == "text/plain" and markup:  # already refused at upload; checked again on the stored bytes
        mime = "text/html"
    metadata: dict = {}
    found = {"sha256": digest.hexdigest(), "size": size, "mime": mime, "metadata": metadata}
    if mime not in settings.ATTACHMENT_ALLOWED_TYPES:
        return {**found, "rejection_reason": f"content is {mime}"}
    if mime.startswith("image/"):
        try:
            thumbnail = _thumbnail(attachment, mime, metadata)
        except Exception as exc:  # noqa: BLE001 - whatever the decoder does (bombs, MemoryError), the file is rejected
            logger.warning("attachment %s rejected while decoding: %s: %s", attachment.id, type(exc).__name__, exc)
            reason = f"image too large: {exc}" if isinstance(exc, ImageTooLarge) else f"not a valid image: {type(exc).__name__}"
            return {**found, "rejection_reason": reason[:200]}
        key = f"thumbnails/{attachment.id}.png"
        default_storage.delete(key)  # idempotent: a second run replaces, never piles up copies
        metadata["thumbnail_key"] = default_storage.save(key, ContentFile(thumbnail))
    return found


class ImageTooLarge(ValueError):
    pass


def _thumbnail(attachment: Attachment, mime: str, metadata: dict) -> bytes:
    """Open the image only as the format its bytes were sniffed as, refuse it above the pixel
    limit before decoding a single pixel, and return a PNG thumbnail."""
    formats = [PILLOW_FORMAT[mime]]
    with default_storage.open(attachment.storage_key, "rb") as stored:
        Image.open(stored, formats=formats).verify()
    with default_storage.open(attachment.storage_key, "rb") as stored:
        image = Image.open(stored, formats=formats)
        pixels = image.width * image.height
        if pixels > MAX_IMAGE_PIXELS:
            raise ImageTooLarge(f"{pixels} pixels; the limit is {MAX_IMAGE_PIXELS}")
        image.load()
        metadata.update(width=image.width, height=image.height)
        image.thumbnail(THUMBNAIL_SIZE)
        buffer = io.BytesIO()
        image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB").save(buffer, "PNG")
    return buffer.getvalue()


def _audit_rejected(attachment: Attachment) -> None:
    audit.record(
        "attachment.rejected",
        target=("attachment", attachment.id),
        outcome=audit.FAILURE,
        details={"reason": attachment.rejection_reason, "owner_id": str(attachment.owner_id)},
    )


def attachment_process(*, attachment_id: uuid.UUID) -> Attachment | None:
    """pending -> processing -> ready | rejected. Safe to run twice, or concurrently: the final
    state and its `attachment.ready` event are written once, under a row lock."""
    with transaction.atomic():
        attachment = Attachment.objects.select_for_update().filter(pk=attachment_id).first()
        if attachment is None or attachment.status in (Attachment.Status.READY, Attachment.Status.REJECTED):
            return attachment
        attachment.processing_attempts += 1
        attachment.updated_at = timezone.now()
        if attachment.processing_attempts > MAX_PROCESSING_ATTEMPTS:  # it killed or hung the worker every time
            attachment.status = Attachment.Status.REJECTED
            attachment.rejection_reason = f"processing failed {MAX_PROCESSING_ATTEMPTS} times"
            attachment.save(update_fields=["status", "rejection_reason", "processing_attempts", "updated_at"])
            _audit_rejected(attachment)
            return attachment
        attachment.status = Attachment.Status.PROCESSING
        attachment.save(update_fields=["status", "processing_attempts", "updated_at"])
    if settings.HDMS_FAULT_SLOW_PROCESSING_SECONDS:  # fault injection for the kill-mid-task tests; 0 in production
        time.sleep(settings.HDMS_FAULT_SLOW_PROCESSING_SECONDS)
    found = _inspect(attachment)
    with transaction.atomic():
        attachment = Attachment.objects.select_for_update().get(pk=attachment_id)
        if attachment.status in (Attachment.Status.READY, Attachment.Status.REJECTED):
            return attachment  # another run finished first
        reason = found.pop("rejection_reason", "")
        for field, value in found.items():
            setattr(attachment, field, value)
        attachment.status = Attachment.Status.REJECTED if reason else Attachment.Status.READY
        attachment.rejection_reason = reason
        attachment.updated_at = timezone.now()
        attachment.save()
        if reason:
            _audit_rejected(attachment)
        else:
            outbox_write(
                type="attachment.ready",
                ticket_id=attachment.ticket_id,
                data=AttachmentReadyData(
                    attachment_id=str(attachment.id),
                    filename=attachment.filename,
                    mime=attachment.mime,
                    size=attachment.size,
                    sha256=attachment.sha256,
                    owner_id=str(attachment.owner_id),
                ),
            )
    return attachment


def abandoned_uploads_purge() -> int:
    """Uploads still `pending` ATTACHMENT_PENDING_HOURS after they were stored (a retention purge):
    their processing never ran to the end (the worker's retries ran out), so they were never shown
    as ready. Each row goes with its bytes and an audit entry; a row a worker holds right now is
    skipped (the next run sees it again)."""
    cutoff = timezone.now() - timedelta(hours=settings.ATTACHMENT_PENDING_HOURS)
    size = settings.RETENTION_BATCH_SIZE
    deleted = 0
    while True:
        with transaction.atomic():
            batch = list(
                Attachment.objects.select_for_update(skip_locked=True)
                .filter(status=Attachment.Status.PENDING, created_at__lt=cutoff)
                .order_by("pk")[:size]
            )
            for attachment in batch:
                audit.record(
                    "attachment.abandoned",
                    target=("attachment", attachment.id),
                    details={"ticket_id": str(attachment.ticket_id), "stored_at": attachment.created_at.isoformat()},
                )
            Attachment.objects.filter(pk__in=[a.pk for a in batch]).delete()
            keys = [a.storage_key for a in batch if a.storage_key]
            transaction.on_commit(functools.partial(_delete_stored, keys))
        deleted += len(batch)
        if len(batch) < size:
            return deleted


def _delete_stored(keys: list[str]) -> None:
    """The bytes of deleted rows; a file that cannot be deleted is logged (orphaned bytes, no row)."""
    for key in keys:
        try:
            default_storage.delete(key)
        except OSError as exc:
            logger.warning("could not delete the stored file %s: %s", key, exc)
