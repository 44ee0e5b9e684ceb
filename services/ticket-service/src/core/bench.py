"""URLs of the bench settings only: the service's own URLs plus the framework's floor."""

from django.http import JsonResponse
from django.urls import path

from .urls import handler400, handler403, handler404, handler500  # noqa: F401
from .urls import urlpatterns as service_urlpatterns


def bare(request):
    """No auth, no DRF, no database: what Django alone costs per request."""
    return JsonResponse({"ok": True})


urlpatterns = [path("bench/bare/", bare), *service_urlpatterns]
