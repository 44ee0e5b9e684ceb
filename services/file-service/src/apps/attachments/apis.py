"""HTTP API of the file-service: upload, list, status, download (always as a download)."""

from __future__ import annotations

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from hdms_platform import errors
from hdms_platform.web.idempotency import IDEMPOTENCY_KEY, idempotent
from hdms_platform.web.pagination import Pagination
from hdms_platform.web.parsers import MultiPartUploadParser

from . import selectors, services
from .models import Attachment

# Uploads are multipart; the rest of the body is a few fields, so anything this much beyond the
# limit is refused from its Content-Length alone, before a byte of it is read.
MULTIPART_OVERHEAD = 64 * 1024


class AttachmentOutput(serializers.Serializer):
    id = serializers.UUIDField()
    ticket_id = serializers.UUIDField()
    owner_id = serializers.UUIDField()
    filename = serializers.CharField()
    type = serializers.CharField()
    status = serializers.ChoiceField(choices=Attachment.Status.choices)
    mime = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    rejection_reason = serializers.CharField()
    has_thumbnail = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_has_thumbnail(self, attachment) -> bool:
        return bool(attachment.metadata.get("thumbnail_key"))


class AttachmentListCreateApi(APIView):
    pagination_class = Pagination
    parser_classes = [MultiPartUploadParser]

    class AttachmentUploadInput(serializers.Serializer):
        ticket_id = serializers.UUIDField()
        file = serializers.FileField(allow_empty_file=False)

    class AttachmentListFilters(serializers.Serializer):
        ticket_id = serializers.UUIDField()

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method == "POST":
            length = int(request.META.get("CONTENT_LENGTH") or 0)
            if length > settings.ATTACHMENT_MAX_BYTES + MULTIPART_OVERHEAD:
                services.refused_upload(user=request.user, ticket_id="", reason="too large", size=length)
                raise errors.TooLarge(f"The upload is {length} bytes; the limit is {settings.ATTACHMENT_MAX_BYTES}.")

    @extend_schema(
        request={"multipart/form-data": AttachmentUploadInput},
        responses={201: AttachmentOutput},
        summary="Upload a file to a ticket (413 over the limit, 415 for a refused type)",
        parameters=[IDEMPOTENCY_KEY],
    )
    @idempotent
    def post(self, request):
        data = self.AttachmentUploadInput(data=request.data)
        data.is_valid(raise_exception=True)
        ticket_id = data.validated_data["ticket_id"]
        selectors.require_ticket_access(user=request.user, ticket_id=ticket_id)
        attachment = services.attachment_create(user=request.user, ticket_id=ticket_id, upload=data.validated_data["file"])
        return Response(AttachmentOutput(attachment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[AttachmentListFilters], responses={200: AttachmentOutput(many=True)}, summary="A ticket's attachments"
    )
    def get(self, request):
        filters = self.AttachmentListFilters(data=request.query_params)
        filters.is_valid(raise_exception=True)
        attachments = selectors.attachment_list(user=request.user, ticket_id=filters.validated_data["ticket_id"])
        paginator = Pagination()
        page = paginator.paginate_queryset(attachments, request, view=self)
        return paginator.get_paginated_response(AttachmentOutput(page, many=True).data)


class AttachmentDetailApi(APIView):
    @extend_schema(responses={200: AttachmentOutput}, summary="One attachment and its processing status")
    def get(self, request, attachment_id):
        return Response(AttachmentOutput(selectors.attachment_get(user=request.user, attachment_id=attachment_id)).data)


def _download(key: str, filename: str, mime: str) -> FileResponse:
    response = FileResponse(default_storage.open(key, "rb"), as_attachment=True, filename=filename, content_type=mime)
    # Never rendered by the browser, whatever the bytes: a download, no sniffing, no scripts.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response


class AttachmentDownloadApi(APIView):
    @extend_schema(
        responses={(200, "application/octet-stream"): bytes},
        summary="Download (Content-Disposition: attachment); 409 until processed and ready",
    )
    def get(self, request, attachment_id):
        attachment = selectors.attachment_get(user=request.user, attachment_id=attachment_id)
        if attachment.status != Attachment.Status.READY:
            raise errors.Conflict(
                f"The attachment is {attachment.status}; only ready attachments can be downloaded.", code="not_ready"
            )
        services.attachment_downloaded(user=request.user, attachment=attachment)
        return _download(attachment.storage_key, attachment.filename, attachment.mime)


class AttachmentThumbnailApi(APIView):
    @extend_schema(
        responses={(200, "image/png"): bytes},
        parameters=[OpenApiParameter("attachment_id", str, "path")],
        summary="The image's thumbnail (PNG, at most 256 x 256), as a download",
    )
    def get(self, request, attachment_id):
        attachment = selectors.attachment_get(user=request.user, attachment_id=attachment_id)
        key = attachment.metadata.get("thumbnail_key")
        if attachment.status != Attachment.Status.READY or not key:
            raise errors.Conflict("This attachment has no thumbnail.", code="no_thumbnail")
        services.attachment_downloaded(user=request.user, attachment=attachment, part="thumbnail")
        return _download(key, f"thumbnail-{attachment.filename.rsplit('.', 1)[0]}.png", "image/png")
