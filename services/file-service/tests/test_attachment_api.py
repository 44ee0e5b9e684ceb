"""Uploads, sniffing, processing and downloads on the real database, Redis and storage.

Agents are used here because their access needs no call to ticket-service (the access rule gives
them every ticket); customers' access through ticket-service is covered end to end in tests/.
"""

import hashlib
import uuid

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from apps.attachments import services
from apps.attachments.models import Attachment
from hdms_platform.outbox.models import OutboxEvent
from hdms_platform.testing.tokens import make_access_token

from .conftest import png_bytes
from .factories import AttachmentFactory

pytestmark = pytest.mark.django_db


def upload(client, ticket_id, name, content, content_type="application/octet-stream"):
    return client.post(
        "/api/v1/attachments/",
        {"ticket_id": str(ticket_id), "file": SimpleUploadedFile(name, content, content_type)},
        format="multipart",
    )


def test_an_image_goes_pending_then_ready_with_digest_and_thumbnail_and_one_event(agent, ticket_id):
    content = png_bytes()
    response = upload(agent, ticket_id, "screen shot.png", content, "image/png")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "pending" and body["filename"] == "screen_shot.png" and body["mime"] == "image/png"
    assert OutboxEvent.objects.get(type="attachment.uploaded").payload["data"]["attachment_id"] == body["id"]

    attachment = services.attachment_process(attachment_id=body["id"])
    assert attachment.status == "ready" and attachment.sha256 == hashlib.sha256(content).hexdigest()
    assert attachment.size == len(content) and attachment.metadata["width"] == 64
    assert default_storage.exists(attachment.metadata["thumbnail_key"])
    services.attachment_process(attachment_id=body["id"])  # a redelivered task: no second announcement
    assert OutboxEvent.objects.filter(type="attachment.ready").count() == 1
    assert agent.get(f"/api/v1/attachments/{body['id']}/").json()["has_thumbnail"] is True


def test_download_is_always_an_attachment_and_only_when_ready(agent, ticket_id):
    body = upload(agent, ticket_id, "notes.txt", b"plain words\n", "text/plain").json()
    not_ready = agent.get(f"/api/v1/attachments/{body['id']}/download/")
    assert not_ready.status_code == 409 and not_ready.json()["error"]["code"] == "not_ready"
    services.attachment_process(attachment_id=body["id"])
    response = agent.get(f"/api/v1/attachments/{body['id']}/download/")
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"plain words\n"
    assert response["Content-Disposition"].startswith('attachment; filename="notes.txt"')
    assert response["X-Content-Type-Options"] == "nosniff" and "sandbox" in response["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("name", "content", "refused_as"),
    [
        ("page.html", b"<!DOCTYPE html><html><script>alert(1)</script></html>", "text/html"),
        ("logo.png", b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "image/svg+xml"),
        ("photo.jpg", b"\x7fELF\x02\x01\x01" + b"\x00" * 200, "application/x-executable"),  # disguised by its name
        ("data.png", b"\x00\x01\x02binary junk" * 20, "application/octet-stream"),
    ],
)
def test_content_is_sniffed_and_refused_with_415(agent, ticket_id, name, content, refused_as):
    response = upload(agent, ticket_id, name, content, "image/png")
    assert response.status_code == 415, response.json()
    assert refused_as in response.json()["error"]["message"]
    assert not Attachment.objects.exists() and not OutboxEvent.objects.exists()


def test_a_polyglot_that_only_looks_like_an_image_is_rejected_by_processing(agent, ticket_id):
    body = upload(agent, ticket_id, "cat.gif", b"GIF89a" + b"<script>alert(1)</script>" * 10, "image/gif").json()
    attachment = services.attachment_process(attachment_id=body["id"])
    assert attachment.status == "rejected" and "not a valid image" in attachment.rejection_reason
    assert agent.get(f"/api/v1/attachments/{body['id']}/download/").status_code == 409
    assert not OutboxEvent.objects.filter(type="attachment.ready").exists()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\windows\\win.ini", "win.txt"),
        (".htaccess", "htaccess.txt"),
        ("report.exe", "report.txt"),
        ('a b;c"d.txt', "a_bcd.txt"),
    ],
)
def test_file_names_are_sanitised_and_never_reach_the_storage_path(agent, ticket_id, name, expected):
    body = upload(agent, ticket_id, name, b"hello there", "text/plain").json()
    attachment = Attachment.objects.get(pk=body["id"])
    assert attachment.filename == expected
    assert attachment.storage_key.startswith(f"attachments/{ticket_id}/{attachment.id}") and ".." not in attachment.storage_key


def test_oversize_uploads_get_413_and_store_nothing(agent, ticket_id, settings):
    settings.ATTACHMENT_MAX_BYTES = 1000
    small_limit = upload(agent, ticket_id, "big.txt", b"x" * 1001, "text/plain")
    assert small_limit.status_code == 413 and small_limit.json()["error"]["code"] == "too_large"
    huge = upload(agent, ticket_id, "huge.txt", b"x" * 200_000, "text/plain")  # refused from Content-Length
    assert huge.status_code == 413
    assert not Attachment.objects.exists()


def test_bad_upload_requests_name_the_field(agent, ticket_id):
    missing = agent.post("/api/v1/attachments/", {"ticket_id": str(ticket_id)}, format="multipart")
    assert missing.status_code == 400 and "file" in missing.json()["error"]["fields"]
    empty = upload(agent, ticket_id, "empty.txt", b"", "text/plain")
    assert empty.status_code == 400 and "file" in empty.json()["error"]["fields"]
    json_body = agent.post("/api/v1/attachments/", {"ticket_id": str(ticket_id)}, format="json")
    assert json_body.status_code == 415
    assert agent.get("/api/v1/attachments/").status_code == 400  # ticket_id is required


def test_a_customer_gets_503_not_a_guess_when_ticket_service_is_down(ticket_id, settings):
    settings.TICKET_SERVICE_URL = "http://127.0.0.1:1"
    customer = APIClient()
    customer.credentials(HTTP_AUTHORIZATION=f"Bearer {make_access_token(roles=('customer',))}")
    response = upload(customer, ticket_id, "a.txt", b"hello", "text/plain")
    assert response.status_code == 503 and not Attachment.objects.exists()


def test_processing_twice_finishes_once(ticket_id):
    attachment = AttachmentFactory(ticket_id=ticket_id)
    results = [services.attachment_process(attachment_id=attachment.id) for _ in range(2)]
    assert [r.status for r in results] == ["ready", "ready"]
    assert OutboxEvent.objects.filter(type="attachment.ready").count() == 1


def test_anonymous_is_refused_everywhere(ticket_id):
    client = APIClient()
    for url in ("/api/v1/attachments/", f"/api/v1/attachments/{uuid.uuid4()}/", f"/api/v1/attachments/{uuid.uuid4()}/download/"):
        assert client.get(url, {"ticket_id": str(ticket_id)}).status_code == 401
