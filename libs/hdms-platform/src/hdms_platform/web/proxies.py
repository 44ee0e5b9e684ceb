"""Who may speak for a client: `X-Forwarded-*` counts only when the peer is a trusted proxy.

TRUSTED_PROXIES lists the proxies by address (127.0.0.2: the native gateway connects upstream
from that loopback address of its own, `proxy_bind`), network (10.0.0.0/8) or name (`gateway`:
compose's service, resolved when asked and again at most every RESOLVE_SECONDS, so a recreated
gateway container with a new address is believed again). A request from any other peer is its own
client: its forwarded headers are dropped before anything reads them (ForwardedHeadersMiddleware),
and `client_address` is its peer address. From a trusted proxy the client is the
TRUSTED_PROXY_COUNT-th X-Forwarded-For entry from the right, the one our own proxy wrote.

Django, DRF (`NUM_PROXIES`), gunicorn (`forwarded_allow_ips`: addresses only) and uvicorn each
have a piece of this; none ties the header to the peer by name for both HTTP and sockets, so the
one rule lives here and uvicorn's own (`--no-proxy-headers`) is off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hdms_platform.conf.trusted_proxies import TrustedProxies

if TYPE_CHECKING:
    from django.http import HttpRequest
    from rest_framework.request import Request

FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT")
DROPPED = "HDMS_FORWARDED_HEADERS_DROPPED"  # in META: which headers an untrusted peer sent


def address_of(peer: str, forwarded_for: str | None, *, proxies: TrustedProxies, count: int) -> str:
    """The client: `peer`, or from a trusted proxy the `count`-th X-Forwarded-For entry from the right."""
    if not (count and forwarded_for and proxies.trusts(peer)):
        return peer
    entries = [entry.strip() for entry in forwarded_for.split(",")]
    return entries[-min(count, len(entries))] or peer


def configured() -> tuple[TrustedProxies, int]:
    from django.conf import settings

    return settings.HDMS_TRUSTED_PROXIES, settings.REST_FRAMEWORK.get("NUM_PROXIES") or 0


class ForwardedHeadersMiddleware:
    """Outermost but the metrics: a request from an untrusted peer loses its X-Forwarded-* headers,
    so neither our address rule nor Django's SECURE_PROXY_SSL_HEADER believes what it wrote."""

    def __init__(self, get_response):  # type: ignore[no-untyped-def]
        self.get_response = get_response

    def __call__(self, request):  # type: ignore[no-untyped-def]
        proxies, _ = configured()
        if not proxies.trusts(request.META.get("REMOTE_ADDR", "")):
            dropped = [header for header in FORWARDED_HEADERS if request.META.pop(header, None) is not None]
            if dropped:  # still a forwarded request, whoever forwarded it (debugpages shows it no technical page)
                request.META[DROPPED] = ",".join(dropped)
        return self.get_response(request)


def client_address(request: HttpRequest | Request) -> str:
    """The caller's address: the peer address, or from a TRUSTED_PROXIES peer with
    TRUSTED_PROXY_COUNT = N the N-th X-Forwarded-For entry from the right."""
    proxies, count = configured()
    meta = request.META
    return address_of(meta.get("REMOTE_ADDR", ""), meta.get("HTTP_X_FORWARDED_FOR"), proxies=proxies, count=count)
