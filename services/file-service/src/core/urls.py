from django.urls import include, path

from hdms_platform.urls import platform_urls

urlpatterns = [
    *platform_urls(),
    path("api/v1/", include("apps.attachments.urls")),
]

handler400 = "hdms_platform.api.handler400"
handler403 = "hdms_platform.api.handler403"
handler404 = "hdms_platform.api.handler404"
handler500 = "hdms_platform.api.handler500"
