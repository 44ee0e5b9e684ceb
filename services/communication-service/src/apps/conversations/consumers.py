"""The ticket socket: authorise in connect, join the ticket's group, replay, presence, re-authentication.
The live stream itself (one loop per source, the fast send, order, 1013 on a channel-layer failure)
is hdms_platform.events.consumer's.

The access token travels in the Sec-WebSocket-Protocol header (`hdms`, `access_token.<jwt>`),
never in the URL, so it does not end up in access logs. A reconnecting client adds
`?last_event_id=<seq>` (not a secret) and first receives every event it missed, in order.

Server → client messages: ticket events (`{"type": "comment.added", "seq": 42, "ticket_seq": 7, ...}`:
`seq` is the replay cursor for `?last_event_id=`, `ticket_seq` numbers the ticket's events 1, 2, 3...
with no gap, so a client can check it missed nothing; a customer's numbers skip staff-only events),
`{"type": "replay.done", "last_event_id": N, "replayed": k}` after a reconnect, `presence`,
`{"type": "auth.ok", "expires_at": T}`, `error`.
Client → server: `{"type": "presence", "state": "viewing" | "replying"}` every few seconds
(a heartbeat: a viewer who stops sending drops out after PRESENCE_TTL_SECONDS), and
`{"type": "auth", "token": "<access token>"}` to go on past the current token's expiry: a fresh
token of the same user (from /auth/refresh/), checked like the first, access to the ticket asked
again with it.

The socket obeys its token: it is closed with 4401 when the token expires unless a fresh one
arrived in-band before, so a revoked session or a changed role reaches open sockets within one
access-token lifetime. Client messages are rate-limited per socket (a burst of
WEBSOCKET_MESSAGE_BURST, refilled at WEBSOCKET_MESSAGES_PER_SECOND) and size-limited by the
server (uvicorn --ws-max-size: 1009 above it); browsers' Origin must be allowed (routing.py).

Close codes: 4401 no, bad or expired token · 4403 no access to this ticket (also unknown
tickets) · 4429 too many messages · 1009 message too big · 1013 try again later: the access
rule could not be asked (ticket-service down), or the channel layer (Redis) failed — at connect,
or later while the socket was open. After a 1013 the client reconnects with `?last_event_id=`
and the replay (from PostgreSQL) fills what it missed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import DatabaseError

from hdms_platform import audit, errors
from hdms_platform.auth.tokens import user_from_token
from hdms_platform.events.consumer import CHANNEL_LAYER_ERRORS, CLOSE_TRY_AGAIN_LATER, LiveEventConsumer
from hdms_platform.events.contracts import presence_message, ticket_group, visible_audiences
from hdms_platform.peers.http import PeerUnavailable
from hdms_platform.peers.ticket import ticket_access_async
from hdms_platform.web.proxies import address_of
from hdms_platform.web.proxies import configured as configured_proxies

from . import selectors, services

SUBPROTOCOL = "hdms"
TOKEN_PREFIX = "access_token."
CLOSE_UNAUTHENTICATED = errors.close_code(errors.NotAuthenticated())
CLOSE_FORBIDDEN = errors.close_code(errors.Forbidden())
CLOSE_TOO_MANY_MESSAGES = 4429
CLOSE_TOO_MANY_SOCKETS = 4429  # the same "too many" (HTTP's 429): past WEBSOCKET_MAX_PER_USER open sockets
PRESENCE_STATES = ("viewing", "replying")

logger = logging.getLogger("hdms.sockets")


class TicketConsumer(LiveEventConsumer):
    async def connect(self):
        self.group = None
        self.counted = False  # this socket is in its user's count (services.socket_opened)
        self.announced = False  # sent presence at least once: only then does leaving concern the group
        self.expiry = None  # the task that closes the socket when the token expires
        self.allowance, self.allowance_at = float(settings.WEBSOCKET_MESSAGE_BURST), time.monotonic()
        token = next((p[len(TOKEN_PREFIX) :] for p in self.scope.get("subprotocols", []) if p.startswith(TOKEN_PREFIX)), "")
        self.ticket_id = self.scope["url_route"]["kwargs"]["ticket_id"]
        try:
            self.user = user_from_token(token)
            allowed = await ticket_access_async(user=self.user, ticket_id=self.ticket_id)
        except errors.NotAuthenticated:
            return await self._refuse(CLOSE_UNAUTHENTICATED)
        except PeerUnavailable:
            return await self._refuse(CLOSE_TRY_AGAIN_LATER)
        if not allowed:
            return await self._refuse(CLOSE_FORBIDDEN)
        if not await database_sync_to_async(services.socket_opened)(user=self.user):
            return await self._refuse(CLOSE_TOO_MANY_SOCKETS)
        self.counted = True
        try:
            await self.channel_layer.group_add(ticket_group(self.ticket_id), self.channel_name)  # before the replay
        except CHANNEL_LAYER_ERRORS as exc:
            logger.warning("channel layer unavailable at connect: %s: %s", type(exc).__name__, exc)
            return await self._refuse(CLOSE_TRY_AGAIN_LATER)
        self.group = ticket_group(self.ticket_id)
        try:
            # Joined first, then read: every event numbered past this reaches the socket, live or
            # fetched when its broadcast is late; what is at or below it is history (the replay's).
            self.position = await database_sync_to_async(selectors.ticket_position)(ticket_id=self.ticket_id)
        except DatabaseError as exc:
            logger.warning("event position unavailable at connect: %s: %s", type(exc).__name__, exc)
            return await self._refuse(CLOSE_TRY_AGAIN_LATER)
        await self._accept()
        self._expire_with_token()
        after = self._last_event_id()
        if after is not None:
            await self._replay(after)

    async def _accept(self):
        """Select `hdms` only if the client offered it: RFC 6455 lets a server choose only among the
        offered subprotocols, and strict clients (browsers, websockets) fail a handshake that doesn't."""
        offered = self.scope.get("subprotocols", [])
        await self.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)

    async def _refuse(self, code: int):
        await self._audit_denied(code)
        await self._accept()  # accepted, then closed: a browser sees the close code, never a bare 403
        await self.close(code=code)

    async def _audit_denied(self, code: int) -> None:
        """Sockets refused for a token (4401) or for access (4403) are audited; a 1013 is not a denial."""
        if code not in (CLOSE_UNAUTHENTICATED, CLOSE_FORBIDDEN):
            return
        user = getattr(self, "user", None)
        peer = (self.scope.get("client") or ("", 0))[0]
        forwarded = dict(self.scope.get("headers", [])).get(b"x-forwarded-for", b"").decode("latin-1") or None
        proxies, count = configured_proxies()
        try:
            await database_sync_to_async(audit.record)(
                "socket.denied",
                actor_id=user.id if user else None,
                target=("ticket", self.ticket_id),
                outcome=audit.DENIED,
                details={"close_code": code},
                address=address_of(str(peer), forwarded, proxies=proxies, count=count),
            )
        except Exception as exc:  # noqa: BLE001 - the refusal stands even if the database is down
            logger.warning("socket denial not audited: %s: %s", type(exc).__name__, exc)

    def _last_event_id(self) -> int | None:
        values = parse_qs(self.scope.get("query_string", b"").decode()).get("last_event_id")
        try:
            return max(0, int(values[0])) if values else None
        except ValueError:
            return None

    async def _replay(self, after: int):
        missed = await database_sync_to_async(selectors.events_since)(ticket_id=self.ticket_id, after_seq=after, user=self.user)
        for event in missed:
            await self.send_event(event)
        await self.send_json({"type": "replay.done", "last_event_id": self.last_seq or after, "replayed": len(missed)})

    def _expire_with_token(self) -> None:
        if self.expiry:
            self.expiry.cancel()
        self.expiry = asyncio.get_running_loop().create_task(self._close_at(self.user.expires_at))

    async def _close_at(self, expires_at: float) -> None:
        await asyncio.sleep(max(0.0, expires_at - time.time()))
        logger.info("socket closed: the access token of %s expired", self.user.id)
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def _reauthenticate(self, token: str) -> None:
        """A fresh token of the same user replaces the current one; access is asked again with it."""
        try:
            user = user_from_token(token if isinstance(token, str) else "")
            if user.id != self.user.id:
                raise errors.NotAuthenticated("The token is another user's.")
            allowed = await ticket_access_async(user=user, ticket_id=self.ticket_id)
        except errors.NotAuthenticated:
            await self._audit_denied(CLOSE_UNAUTHENTICATED)
            return await self.close(code=CLOSE_UNAUTHENTICATED)
        except PeerUnavailable:
            return await self.close(code=CLOSE_TRY_AGAIN_LATER)
        if not allowed:
            await self._audit_denied(CLOSE_FORBIDDEN)
            return await self.close(code=CLOSE_FORBIDDEN)
        self.user = user
        self._expire_with_token()
        await self.send_json({"type": "auth.ok", "expires_at": int(user.expires_at)})

    def _within_rate(self) -> bool:
        """Token bucket per socket: a burst, refilled at a steady rate."""
        now = time.monotonic()
        rate, burst = settings.WEBSOCKET_MESSAGES_PER_SECOND, settings.WEBSOCKET_MESSAGE_BURST
        self.allowance = min(float(burst), self.allowance + (now - self.allowance_at) * rate)
        self.allowance_at = now
        if self.allowance < 1:
            return False
        self.allowance -= 1
        return True

    async def disconnect(self, code):
        if self.expiry:
            self.expiry.cancel()
        if getattr(self, "counted", False):
            self.counted = False
            await database_sync_to_async(services.socket_closed)(user=self.user)
        if not self.group:
            return
        try:  # best effort: the membership is this process's own and goes with it
            await self.channel_layer.group_discard(self.group, self.channel_name)
            if self.announced:
                presence = await database_sync_to_async(services.presence_leave)(ticket_id=self.ticket_id, user=self.user)
                await self.channel_layer.group_send(self.group, presence_message(presence))
        except CHANNEL_LAYER_ERRORS as exc:
            logger.warning("channel layer unavailable at disconnect: %s: %s", type(exc).__name__, exc)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        """Every client message counts against the rate first; what is not JSON is answered with
        the same error as a wrong message (not a crashed consumer)."""
        if not self._within_rate():
            logger.warning("socket of %s closed: more than its message rate", self.user.id)
            return await self.close(code=CLOSE_TOO_MANY_MESSAGES)
        try:
            content = await self.decode_json(text_data) if text_data else None
        except ValueError:
            content = None
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "auth":
            return await self._reauthenticate(content.get("token"))
        if not isinstance(content, dict) or content.get("type") != "presence" or content.get("state") not in PRESENCE_STATES:
            await self.send_json(
                {
                    "type": "error",
                    "error": {"code": "invalid", "message": 'Send {"type": "presence", "state": "viewing" | "replying"}.'},
                }
            )
            return None
        self.announced = True
        presence, changed = await database_sync_to_async(services.presence_heartbeat)(
            ticket_id=self.ticket_id, user=self.user, state=content["state"]
        )
        if changed:
            await self.channel_layer.group_send(self.group, presence_message(presence))

    async def ticket_event(self, message):
        await self.accept_event(message["event"])

    async def missed(self, after: int, before: int) -> list[dict]:
        return await database_sync_to_async(selectors.events_between)(
            ticket_id=self.ticket_id, after=after, before=before, user=self.user
        )

    async def presence_changed(self, message):
        await self.send_json(presence_for(self.user, message["event"]))

    def visible(self, event: dict) -> bool:
        return event.get("audience", "everyone") in visible_audiences(is_staff=self.user.is_staff_member)


def presence_for(user, presence: dict) -> dict:
    """Agents and admins see who is there by email; a customer sees staff by role only, never
    their addresses (a customer's own entry keeps its email)."""
    if user.is_staff_member:
        return presence
    viewers = [v if v["user_id"] == str(user.id) else {k: x for k, x in v.items() if k != "email"} for v in presence["viewers"]]
    return {**presence, "viewers": viewers}
