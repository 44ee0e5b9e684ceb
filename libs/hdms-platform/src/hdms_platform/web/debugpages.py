"""What Django's technical error pages (DEBUG) may show, and to whom.

- `SecretFilter` (DEFAULT_EXCEPTION_REPORTER_FILTER) masks what Django's own filter misses: a
  credential inside a URL value (`redis://hdms-cache:<password>@redis:6379/0`, the Redis role
  URLs, a broker URL), in every setting and in the request's META. Django masks by name only
  (`*PASSWORD*`, `*SECRET*`, ...), so a URL setting was shown with its password.
- `LoopbackReporter` (DEFAULT_EXCEPTION_REPORTER) renders the technical page only for a caller on
  this machine that came in directly: a loopback peer with no X-Forwarded-For (a request through
  the gateway, natively a loopback peer too, always carries one). Anyone else gets one line, with
  nothing about the code or the settings, even where DEBUG is on (the dev settings `make up` runs).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from django.utils.safestring import SafeString, mark_safe
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from hdms_platform.web.proxies import DROPPED

# scheme://user:password@host -> scheme://user:********@host (also scheme://:password@host)
URL_CREDENTIALS = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.IGNORECASE)
QUERY_CREDENTIALS = re.compile(r"(?P<head>[?&](?:password|passwd|pwd|secret|token|key)=)[^&#\s]+", re.IGNORECASE)
SUBSTITUTE = "********"
REFUSED = "Server error. Details are shown only to a client on this machine that connects directly.\n"


def mask(text: str) -> str:
    text = URL_CREDENTIALS.sub(lambda m: m.group("head") + SUBSTITUTE + "@", text)
    return QUERY_CREDENTIALS.sub(lambda m: m.group("head") + SUBSTITUTE, text)


class SecretFilter(SafeExceptionReporterFilter):
    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)  # recurses through dicts and lists via this method
        return mask(cleansed) if isinstance(cleansed, str) else cleansed


def direct_local_caller(request: Any) -> bool:
    if request is None:
        return True  # a report with no request (logging) is written where only the operator reads it
    meta = getattr(request, "META", {})
    if meta.get("HTTP_X_FORWARDED_FOR") or meta.get(DROPPED):  # forwarded, by a trusted proxy or not
        return False
    try:
        return ipaddress.ip_address(meta.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


class LoopbackReporter(ExceptionReporter):
    def get_traceback_html(self) -> SafeString:
        return super().get_traceback_html() if direct_local_caller(self.request) else mark_safe(REFUSED)  # a constant

    def get_traceback_text(self) -> SafeString:
        return super().get_traceback_text() if direct_local_caller(self.request) else mark_safe(REFUSED)  # a constant
