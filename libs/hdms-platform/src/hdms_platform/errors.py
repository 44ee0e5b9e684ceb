"""The project's own errors: what services, selectors and the token check raise, free of any web
framework. One mapping turns each into the JSON error model of the APIs (`hdms_platform.web.exceptions`,
which gives the HTTP status below) and one into a WebSocket close code (`CLOSE_CODES`).

    raise errors.Conflict("A closed ticket cannot be edited.", code="ticket_closed")
"""

from __future__ import annotations


class DomainError(Exception):
    """`message` for people, `code` for programs (the JSON error's `code`)."""

    status = 400
    default_code = "error"
    default_message = "The request failed."

    def __init__(self, message: str | None = None, *, code: str | None = None):
        self.message = message or self.default_message
        self.code = code or self.default_code
        super().__init__(self.message)


class Invalid(DomainError):
    """Input that breaks a rule; `fields` names each input and what is wrong with it."""

    status, default_code, default_message = 400, "invalid", "Invalid input."

    def __init__(self, fields: dict[str, list[str]], *, code: str | None = None):
        self.fields = fields
        super().__init__(f"Invalid input: {', '.join(sorted(fields))}.", code=code)


class NotAuthenticated(DomainError):
    status, default_code, default_message = 401, "authentication_failed", "Incorrect authentication credentials."


class Forbidden(DomainError):
    status, default_code, default_message = 403, "permission_denied", "You do not have permission to perform this action."


class NotFound(DomainError):
    status, default_code, default_message = 404, "not_found", "Not found."


class Conflict(DomainError):
    status, default_code, default_message = 409, "conflict", "The request conflicts with the resource's current state."


class TooLarge(DomainError):
    status, default_code, default_message = 413, "too_large", "The request body is too large."


class UnsupportedType(DomainError):
    status, default_code, default_message = 415, "unsupported_media_type", "Unsupported media type."

    def __init__(self, message: str | None = None, *, media_type: str, code: str | None = None):
        self.media_type = media_type
        super().__init__(message, code=code)


class RateLimited(DomainError):
    status, default_code, default_message = 429, "throttled", "Request was throttled."

    def __init__(self, message: str | None = None, *, retry_after: float | None, code: str | None = None):
        self.retry_after = retry_after
        super().__init__(message, code=code)


class Unavailable(DomainError):
    """A dependency (the database, another service) cannot answer now; the caller may retry."""

    status, default_code, default_message = 503, "unavailable", "A dependency is unavailable; try again shortly."


# A socket refused or closed for an error: 4401 no, bad or expired token · 4403 no access (unknown
# looks the same) · 1013 try again later. Anything else is a server error (1011).
CLOSE_CODES: dict[type[DomainError], int] = {NotAuthenticated: 4401, Forbidden: 4403, NotFound: 4403, Unavailable: 1013}


def close_code(error: DomainError) -> int:
    return next((code for kind, code in CLOSE_CODES.items() if isinstance(error, kind)), 1011)
