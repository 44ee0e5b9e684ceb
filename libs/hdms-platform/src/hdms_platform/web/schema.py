"""OpenAPI (drf-spectacular) description of the platform's bearer-token authentication."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class AccessTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]  # drf-spectacular's hook
    target_class = "hdms_platform.auth.tokens.AccessTokenAuthentication"
    name = "accessToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (RS256, from user-service /api/v1/auth/login/)"}


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "machine-readable, e.g. invalid, not_found, conflict"},
                "message": {"type": "string", "description": "for people; names the input or rule at fault"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    "description": "each wrong input, by name, with what is wrong with it",
                },
            },
        }
    },
}
ERRORS_ALWAYS = {
    "400": "Invalid input (`fields` names each wrong one), malformed JSON, bad UTF-8",
    "401": "No, expired or invalid access token (on sign-in: wrong credentials or refresh token)",
    "403": "Not allowed",
    "404": "Not found (also what you may not see)",
    "429": "Too many requests (Retry-After says when to retry)",
    "503": "A dependency is down; retry shortly",
}
ERRORS_WRITES = {
    "409": "Conflicts with the resource's state (the message names the rule)",
    "413": "Body too large",
    "415": "Unsupported media type",
}


# Answered by the HTTP server (gunicorn's limit_request_line) before the service sees the request.
URI_TOO_LONG = {
    "description": "Request line over 4094 bytes (answered by the HTTP server, as text/html)",
    "content": {"text/html": {"schema": {"type": "string"}}},
}


def document_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Postprocessing hook: every operation documents the JSON error model for the errors it can
    answer, so clients (and schemathesis' conformance checks) know every status code's body."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            errors = dict(ERRORS_ALWAYS)
            if method != "get":
                errors.update(ERRORS_WRITES)
            if any(p.get("in") == "header" and p.get("name") == "Idempotency-Key" for p in operation.get("parameters", [])):
                errors["422"] = "This Idempotency-Key was used for a different request (`idempotency_key_reused`)"
            responses = operation.setdefault("responses", {})
            for code, description in errors.items():
                responses.setdefault(code, {"description": description, "content": reference})
            responses.setdefault("414", URI_TOO_LONG)
    return result
