"""WebSocket consumers: thin. Authorise in connect, join the ticket's group, forward events.

The access token travels in the Sec-WebSocket-Protocol header (`hdms`, `access_token.<jwt>`),
never in the URL, so it does not end up in access logs. A reconnecting client adds
`?last_event_id=<seq>` (not a secret) and first receives every event it missed, in order.

Server → client messages: ticket events (`{"type": "comment.added", "seq": 42, ...}`),
`{"type": "replay.done", "last_event_id": N, "replayed": k}` after a reconnect, `presence`, `error`.
Client → server: `{"type": "presence", "state": "viewing" | "replying"}` every few seconds
(a heartbeat: a viewer who stops sending drops out after PRESENCE_TTL_SECONDS).

Close codes: 4401 no or bad token · 4403 no access to this ticket (also unknown tickets) ·
1013 try again later: the access rule could not be asked (ticket-service down), or the channel
layer (Redis) failed — at connect, or later while the socket was open. After a 1013 the client
reconnects with `?last_event_id=` and the replay (from PostgreSQL) fills what it missed.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from redis.exceptions import RedisError
from rest_framework.exceptions import AuthenticationFailed

from hdms_platform.access import AccessUnavailable, ticket_access_async
from hdms_platform.auth import user_from_token
from hdms_platform.events import presence_message, ticket_group

from . import selectors, services

SUBPROTOCOL = "hdms"
TOKEN_PREFIX = "access_token."
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TRY_AGAIN_LATER = 1013
PRESENCE_STATES = ("viewing", "replying")
# Redis failing (refused, reset, timed out) — not any OSError: a client that vanished is not news
CHANNEL_LAYER_ERRORS = (RedisError, ConnectionError, TimeoutError)

logger = logging.getLogger("hdms.sockets")


class TicketConsumer(AsyncJsonWebsocketConsumer):
    async def __call__(self, scope, receive, send):
        """Tell the client when the channel layer fails under an open socket (a close frame with
        1013, not a dropped connection), so it knows to reconnect and replay."""
        try:
            await super().__call__(scope, receive, send)
        except CHANNEL_LAYER_ERRORS as exc:
            logger.warning("channel layer failed under an open socket: %s: %s", type(exc).__name__, exc)
            try:
                await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER, "reason": "live updates interrupted"})
            except Exception:  # noqa: BLE001 - the client may already be gone
                pass

    async def connect(self):
        self.group = None
        self.last_seq = 0
        self.announced = False  # sent presence at least once: only then does leaving concern the group
        token = next((p[len(TOKEN_PREFIX) :] for p in self.scope.get("subprotocols", []) if p.startswith(TOKEN_PREFIX)), "")
        self.ticket_id = self.scope["url_route"]["kwargs"]["ticket_id"]
        try:
            self.user = user_from_token(token)
            allowed = await ticket_access_async(user=self.user, ticket_id=self.ticket_id)
        except AuthenticationFailed:
            return await self._refuse(CLOSE_UNAUTHENTICATED)
        except AccessUnavailable:
            return await self._refuse(CLOSE_TRY_AGAIN_LATER)
        if not allowed:
            return await self._refuse(CLOSE_FORBIDDEN)
        try:
            await self.channel_layer.group_add(ticket_group(self.ticket_id), self.channel_name)  # before the replay
        except CHANNEL_LAYER_ERRORS as exc:
            logger.warning("channel layer unavailable at connect: %s: %s", type(exc).__name__, exc)
            return await self._refuse(CLOSE_TRY_AGAIN_LATER)
        self.group = ticket_group(self.ticket_id)
        await self.accept(subprotocol=SUBPROTOCOL)
        after = self._last_event_id()
        if after is not None:
            await self._replay(after)

    async def _refuse(self, code: int):
        await self.accept(subprotocol=SUBPROTOCOL)
        await self.close(code=code)

    def _last_event_id(self) -> int | None:
        values = parse_qs(self.scope.get("query_string", b"").decode()).get("last_event_id")
        try:
            return max(0, int(values[0])) if values else None
        except ValueError:
            return None

    async def _replay(self, after: int):
        missed = await database_sync_to_async(selectors.events_since)(ticket_id=self.ticket_id, after_seq=after, user=self.user)
        for event in missed:
            await self._send_event(event)
        await self.send_json({"type": "replay.done", "last_event_id": self.last_seq or after, "replayed": len(missed)})

    async def _send_event(self, event: dict):
        seq = event.get("seq")  # stored events carry one; probes (verify.ping) do not
        if seq is not None:
            if seq <= self.last_seq:
                return  # already sent (replayed, or a redelivered broadcast)
            self.last_seq = seq
        await self.send_json(event)

    async def disconnect(self, code):
        if not self.group:
            return
        try:  # best effort: a membership left behind expires with the group (group_expiry)
            await self.channel_layer.group_discard(self.group, self.channel_name)
            if self.announced:
                presence = await database_sync_to_async(services.presence_leave)(ticket_id=self.ticket_id, user=self.user)
                await self.channel_layer.group_send(self.group, presence_message(presence))
        except CHANNEL_LAYER_ERRORS as exc:
            logger.warning("channel layer unavailable at disconnect: %s: %s", type(exc).__name__, exc)

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict) or content.get("type") != "presence" or content.get("state") not in PRESENCE_STATES:
            await self.send_json(
                {
                    "type": "error",
                    "error": {"code": "invalid", "message": 'Send {"type": "presence", "state": "viewing" | "replying"}.'},
                }
            )
            return
        self.announced = True
        presence, changed = await database_sync_to_async(services.presence_heartbeat)(
            ticket_id=self.ticket_id, user=self.user, state=content["state"]
        )
        if changed:
            await self.channel_layer.group_send(self.group, presence_message(presence))

    async def ticket_event(self, message):
        event = message["event"]
        if event.get("audience") == "staff" and not self.user.is_staff_member:
            return
        await self._send_event(event)

    async def presence_changed(self, message):
        await self.send_json(message["event"])
