"""One error model for every service: the one mapping from what is raised to the JSON error body.

Every 4xx/5xx body: {"error": {"code": "...", "message": "...", "fields": {"name": ["..."]}}}
`fields` is present when specific inputs were wrong, naming each one. Services raise
`hdms_platform.errors` (never DRF's exceptions); DRF's own (validation, authentication, throttling),
Django's (404, body too big, permission) and the database's (unavailable, budget spent, connection
lost mid-request) are mapped here too.
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
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from hdms_platform import errors
from hdms_platform.db.budget import DatabaseBudgetExceeded

logger = logging.getLogger("hdms.api")


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
        exc = _as_drf(errors.TooLarge(f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."), context)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DatabaseBudgetExceeded):
        logger.warning("database budget spent: %s", exc)
        exc = _as_drf(
            errors.Unavailable(
                f"The database did not answer within {settings.DB_REQUEST_BUDGET_SECONDS:g} s; try again shortly."
            ),
            context,
        )
    elif isinstance(exc, (OperationalError, InterfaceError)):
        logger.warning("database unavailable: %s", exc)
        exc = _as_drf(errors.Unavailable("The database is unavailable; try again shortly."), context)
    elif isinstance(exc, DatabaseError) and not isinstance(exc, CODE_OR_DATA_ERRORS) and _connection_lost():
        # e.g. PostgreSQL shut down during COMMIT (psycopg: "received 2 results from command
        # 'COMMIT'"): the write may or may not have landed, and the client must be told so.
        logger.warning("database connection lost mid-request: %s", exc)
        exc = _as_drf(
            errors.Unavailable("The database connection was lost; the outcome of this request is unknown. Check, then retry."),
            context,
        )
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
