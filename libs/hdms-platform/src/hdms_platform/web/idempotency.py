"""Safe retries of creates: the `Idempotency-Key` header.

The same key from the same user within IDEMPOTENCY_KEY_HOURS (24) returns the first request's
result and creates nothing new. The key is claimed by inserting its row **in the transaction of
the create itself**, so the three outcomes a client can be unsure of are all safe:

- the first request committed (even if its answer was lost: a dropped connection, the mid-COMMIT
  503 "outcome unknown"): the row is there with the stored answer, a retry gets that answer;
- it did not commit: there is no row, a retry does the work (once);
- it is still running: a concurrent retry's INSERT waits on the row's unique index until the first
  commits (then it replays) or rolls back (then it does the work itself).

Only 2xx answers are stored; a refused request (4xx) leaves no row, so a corrected retry with the
same key works. The same key with a different request (another path or body) is a 422.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request
from rest_framework.response import Response

from hdms_platform import errors
from hdms_platform.db.retention import delete_in_batches
from hdms_platform.models import IdempotencyRecord

HEADER = "Idempotency-Key"
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces (a UUID fits)


class KeyReused(errors.DomainError):
    status, default_code = 422, "idempotency_key_reused"
    default_message = "This Idempotency-Key was used for a different request; use a new key."


IDEMPOTENCY_KEY = OpenApiParameter(
    HEADER,
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    OpenApiParameter.HEADER,
    description="Optional. A retry with the same key (within 24 h, same user, same request) returns the "
    "first answer and creates nothing new; the same key with another request is a 422.",
)


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def fingerprint(request: Request) -> str:
    """What makes two requests 'the same': method, path and body (for uploads, each file's name,
    size and content hash, not the bytes). A JSON body that is not an object is taken as it is."""
    body = request.data
    if hasattr(body, "items"):
        body = {name: _file_identity(value) if isinstance(value, UploadedFile) else value for name, value in body.items()}
    raw = json.dumps([request.method, request.path, body], sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def _file_identity(upload: UploadedFile[Any]) -> list[object]:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return [upload.name, upload.size, digest.hexdigest()]


def idempotent(view_method: Callable[..., Response]) -> Callable[..., Response]:
    """For a DRF view's create method: honour Idempotency-Key (see the module's docstring)."""

    @functools.wraps(view_method)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(HEADER)
        if key is None:
            return view_method(view, request, *args, **kwargs)
        if not _VALID_KEY.match(key):
            raise errors.Invalid({HEADER: ["Use 1 to 255 printable ASCII characters without spaces (a UUID, say)."]})
        user_id: Any = request.user.id  # a TokenUser's UUID: only authenticated views are idempotent
        digest = fingerprint(request)
        for _ in range(2):  # a second pass only after dropping an expired row of the same key
            try:
                with transaction.atomic():
                    record = _claim(user_id, key, digest)
                    response = view_method(view, request, *args, **kwargs)
                    if not 200 <= response.status_code < 300:
                        raise _Refused(response)  # roll the claim back: the retry may try again
                    record.status_code, record.body, record.completed_at = response.status_code, response.data, timezone.now()
                    record.save(update_fields=["status_code", "body", "completed_at"])
                    return response
            except _Refused as refused:
                return refused.response
            except _KeyTaken:
                existing = IdempotencyRecord.objects.filter(user_id=user_id, key=key).first()
                if existing is None:
                    continue  # its transaction rolled back after we looked: try again
                if existing.created_at < timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS):
                    existing.delete()
                    continue
                if existing.fingerprint != digest:
                    raise KeyReused() from None
                replay = Response(existing.body, status=existing.status_code)
                replay["Idempotent-Replayed"] = "true"
                return replay
        raise KeyReused()

    return wrapper


class _KeyTaken(Exception):
    pass


def _claim(user_id: Any, key: str, digest: str) -> IdempotencyRecord:
    try:
        with transaction.atomic():  # a savepoint: a duplicate key leaves the outer transaction usable
            return IdempotencyRecord.objects.create(user_id=user_id, key=key, fingerprint=digest)
    except IntegrityError:
        raise _KeyTaken() from None


def idempotency_keys_purge() -> int:
    """Forget keys past the window (a retention purge: settings.HDMS_RETENTION)."""
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    return delete_in_batches(IdempotencyRecord.objects.filter(created_at__lt=cutoff))
