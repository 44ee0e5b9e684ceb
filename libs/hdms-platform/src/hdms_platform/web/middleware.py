"""Middleware of every service beyond the metrics' and the proxies' (observability/middleware.py, web/proxies.py)."""

from __future__ import annotations

from django.http import HttpRequest


class NoStoreMiddleware:
    """Answers that depend on who asks (a bearer token) or that hand out credentials (the sign-in,
    refresh and register endpoints) are never kept by a browser or a shared cache:
    `Cache-Control: no-store`, unless the view said otherwise."""

    def __init__(self, get_response):  # type: ignore[no-untyped-def]
        self.get_response = get_response

    def __call__(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        response = self.get_response(request)
        if ("HTTP_AUTHORIZATION" in request.META or request.path.startswith("/api/v1/auth/")) and "Cache-Control" not in response:
            response["Cache-Control"] = "no-store"
        return response
