"""A GET answered from what this process already holds, without DRF's per-request machinery.

Why our own: on a cached ticket detail, DRF's dispatch (its request wrapper, content negotiation,
authentication and permission steps, response finalising) was the largest cost left between a
cache hit and the bare Django view (docs/performance-profiles.md). DRF has no lighter dispatch that
keeps its semantics, so this takes only the one case whose answer is certain without it, and gives
every other request to DRF unchanged:

- a GET with no query string (so no `?format=` override), accepting JSON plainly (no Accept, `*/*`
  or `application/json`);
- a view whose only authentication is the bearer token and whose only permission is being signed in;
- a token this process has already verified (hdms_platform.auth.tokens.verified_user: nothing is checked
  here, so a forged or unknown token always meets DRF's check and its 401);
- data the view can give from memory alone (`from_memory` returns None otherwise, including when
  the access rule says no: the full path then answers the 404 as it always does).

The answer is the one DRF would give: the same JSON bytes (DRF's own renderer), Content-Type and
Allow header, and `request.user` set for the access log. tests/test_detail_from_memory.py in
ticket-service holds the two paths to the same bytes and headers.
"""

from __future__ import annotations

from typing import Any, cast

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from hdms_platform.auth.tokens import AccessTokenAuthentication, TokenUser, bearer_token, verified_user

_PLAIN_ACCEPT = frozenset({"", "*/*", "application/json"})
_RENDERER = JSONRenderer()
# Per view class, worked out on its first GET: its Allow header (as DRF computes it on every request)
# when its authentication and permissions are the ones this path assumes, else None. Both are fixed
# when the class is defined (DRF reads its settings into the class attributes then).
_ALLOW_IF_PLAIN: dict[type, str | None] = {}


class FromMemory(APIView):
    """An APIView whose GETs that `from_memory` can answer skip DRF's dispatch."""

    def from_memory(self, user: TokenUser, **kwargs: Any) -> Any | None:
        """The GET's response data, from this process's memory only (no I/O, nothing that can
        fail), or None: the request takes the full path."""
        raise NotImplementedError

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        allow = self._allow_if_plain() if request.method == "GET" else None
        if (
            allow is not None
            and (user := self._known_user(request)) is not None
            and (data := self.from_memory(user, **kwargs)) is not None
        ):
            request.user = user  # type: ignore[assignment]  # as DRF sets it: the access log's user id
            answer = HttpResponse(_RENDERER.render(data), content_type=_RENDERER.media_type)
            answer["Allow"] = allow
            return answer
        return cast(HttpResponseBase, super().dispatch(request, *args, **kwargs))

    def _allow_if_plain(self) -> str | None:
        view = type(self)
        if view not in _ALLOW_IF_PLAIN:
            plain = (
                self.authentication_classes == [AccessTokenAuthentication]
                and self.permission_classes == [IsAuthenticated]
                # a throttle that limits GETs would be skipped here: only read-exempt ones allowed
                and not any(getattr(throttle, "limits_reads", True) for throttle in self.throttle_classes)
            )
            _ALLOW_IF_PLAIN[view] = ", ".join(self.allowed_methods) if plain else None
        return _ALLOW_IF_PLAIN[view]

    @staticmethod
    def _known_user(request: HttpRequest) -> TokenUser | None:
        if (
            request.META.get("HTTP_ACCEPT", "") not in _PLAIN_ACCEPT
            or request.META.get("QUERY_STRING")  # `?format=` is DRF's to read, and a detail takes no other
        ):
            return None
        token = bearer_token(request.META.get("HTTP_AUTHORIZATION", ""))
        return verified_user(token) if token is not None else None
