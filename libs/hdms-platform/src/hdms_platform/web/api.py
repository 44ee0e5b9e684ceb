"""One error model for every service.

Every 4xx/5xx body: {"error": {"code": "...", "message": "...", "fields": {"name": ["..."]}}}
`fields` is present when specific inputs were wrong, naming each one.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    connection,
)
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from hdms_platform import errors
from hdms_platform.db.budget import DatabaseBudgetExceeded
from hdms_platform.web.proxies import client_address as proxies_client_address
from hdms_platform.web.proxies import configured as configured_proxies

logger = logging.getLogger("hdms.api")


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the resource's current state."
    default_code = "conflict"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A dependency is unavailable; try again shortly."
    default_code = "unavailable"


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    body: dict[str, dict[str, Any]] = {"error": {"code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return body


def _flatten(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                for sub, messages in _flatten(value).items():
                    out[f"{key}.{sub}"] = messages
            else:
                items = value if isinstance(value, list) else [value]
                out[str(key)] = [str(v) if not isinstance(v, dict) else str(_flatten(v)) for v in items]
        return out
    return {"non_field_errors": [str(d) for d in (detail if isinstance(detail, list) else [detail])]}


CODE_OR_DATA_ERRORS = (DataError, IntegrityError, NotSupportedError, ProgrammingError)  # not the connection's fault


def _connection_lost() -> bool:
    raw = connection.connection
    if raw is None or getattr(raw, "closed", False) or getattr(raw, "broken", False):
        return True
    try:
        with raw.cursor() as cursor:
            cursor.execute("SELECT 1")
        return False
    except Exception:  # noqa: BLE001 - any failure of the probe means the connection is gone
        return True


def _as_drf(error: errors.DomainError, context: dict[str, Any]) -> exceptions.APIException:
    """The one mapping from the project's errors to DRF's, whose handler renders the error model."""
    if isinstance(error, errors.Invalid):
        return exceptions.ValidationError(error.fields)
    if isinstance(error, errors.RateLimited):
        return exceptions.Throttled(wait=error.retry_after, detail=error.message, code=error.code)
    if isinstance(error, errors.UnsupportedType):
        return exceptions.UnsupportedMediaType(error.media_type, detail=error.message, code=error.code)
    if isinstance(error, errors.NotAuthenticated):
        failed = exceptions.AuthenticationFailed(error.message, code=error.code)
        # DRF's own rule (APIView.handle_exception): 401 with the view's WWW-Authenticate, else 403.
        view, request = context.get("view"), context.get("request")
        header = view.get_authenticate_header(request) if view is not None and request is not None else None
        if header:
            failed.auth_header = header  # type: ignore[attr-defined]  # read by DRF's handler for WWW-Authenticate
        else:
            failed.status_code = status.HTTP_403_FORBIDDEN
        return failed
    drf = exceptions.APIException(error.message, code=error.code)
    drf.status_code = error.status
    return drf


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, errors.DomainError):
        exc = _as_drf(exc, context)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DatabaseBudgetExceeded):
        logger.warning("database budget spent: %s", exc)
        exc = ServiceUnavailable(
            f"The database did not answer within {settings.DB_REQUEST_BUDGET_SECONDS:g} s; try again shortly."
        )
    elif isinstance(exc, (OperationalError, InterfaceError)):
        logger.warning("database unavailable: %s", exc)
        exc = ServiceUnavailable("The database is unavailable; try again shortly.")
    elif isinstance(exc, DatabaseError) and not isinstance(exc, CODE_OR_DATA_ERRORS) and _connection_lost():
        # e.g. PostgreSQL shut down during COMMIT (psycopg: "received 2 results from command
        # 'COMMIT'"): the write may or may not have landed, and the client must be told so.
        logger.warning("database connection lost mid-request: %s", exc)
        exc = ServiceUnavailable("The database connection was lost; the outcome of this request is unknown. Check, then retry.")
    elif isinstance(exc, DatabaseError):
        logger.exception("database error")
        return Response(error_body("server_error", "Internal error."), status=500)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        names = ", ".join(sorted(fields))
        response.data = error_body("invalid", f"Invalid input: {names}.", fields)
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        if isinstance(detail, (dict, list)):
            response.data = error_body(str(code if isinstance(code, str) else "error"), "Request failed.", _flatten(detail))
        else:
            response.data = error_body(str(code), str(detail))
    return response


def json_error(status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status_code)


def handler404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(404, "not_found", "Not found.")


def handler500(request: HttpRequest) -> JsonResponse:
    return json_error(500, "server_error", "Internal error.")


def handler400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(400, "bad_request", "Bad request.")


def handler403(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(403, "permission_denied", "Permission denied.")


class Pagination(PageNumberPagination):
    """Page-number pagination with a total (`count`) and a capped, client-chosen page size."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100


def client_address(request: HttpRequest | Request) -> str:
    """The caller's address: the peer address, or from a TRUSTED_PROXIES peer with
    TRUSTED_PROXY_COUNT = N the N-th X-Forwarded-For entry from the right (proxies.py)."""
    proxies, count = configured_proxies()
    meta = request.META
    return proxies_client_address(meta.get("REMOTE_ADDR", ""), meta.get("HTTP_X_FORWARDED_FOR"), proxies=proxies, count=count)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


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
