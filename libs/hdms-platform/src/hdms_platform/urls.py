"""URL patterns every service serves: health, the OpenAPI schema with its docs UI (no CDN), the
service's audit log (`api/v1/audit/<service>/`, admins) and its Prometheus metrics (`metrics`)."""

from django.conf import settings
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from hdms_platform.health.exporter import metrics_view
from hdms_platform.web.audit_api import AuditListApi


def platform_urls() -> list[URLPattern | URLResolver]:
    """A service lists these after its own API: Django tries patterns in order, and the API is
    nearly all the traffic (first, a cached ticket detail resolved in ~20 us instead of ~30)."""
    return [
        path("", include("hdms_platform.health.urls")),
        path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
        # A relative schema URL, so the page works both directly (/api/docs/) and behind the
        # gateway under the service's prefix (/ticket/api/docs/ -> /ticket/api/schema/).
        path("api/docs/", SpectacularSwaggerView.as_view(url="../schema/"), name="docs"),
        path(f"api/v1/audit/{settings.HDMS_SERVICE}/", AuditListApi.as_view(), name="audit"),
        # Prometheus; the gateway does not route it (internal network only).
        path("metrics", metrics_view, name="metrics"),
    ]


# Every service's error pages are the JSON error model; a service's core/urls.py imports these.
handler400 = "hdms_platform.web.exceptions.handler400"
handler403 = "hdms_platform.web.exceptions.handler403"
handler404 = "hdms_platform.web.exceptions.handler404"
handler500 = "hdms_platform.web.exceptions.handler500"
