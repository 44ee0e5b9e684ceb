from django.urls import path

from . import apis

urlpatterns = [
    path("attachments/", apis.AttachmentListCreateApi.as_view(), name="attachment-list"),
    path("attachments/<uuid:attachment_id>/", apis.AttachmentDetailApi.as_view(), name="attachment-detail"),
    path("attachments/<uuid:attachment_id>/download/", apis.AttachmentDownloadApi.as_view(), name="attachment-download"),
    path("attachments/<uuid:attachment_id>/thumbnail/", apis.AttachmentThumbnailApi.as_view(), name="attachment-thumbnail"),
]
