from django.urls import include, path

from hdms_platform.urls import handler400, handler403, handler404, handler500, platform_urls  # noqa: F401 (Django reads the handlers here)

urlpatterns = [
    path("api/v1/", include("apps.attachments.urls")),
    *platform_urls(),
]
