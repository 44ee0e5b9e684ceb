"""WebSocket consumers: thin. Authorise in connect, join the ticket's group, forward events.

The access token travels in the Sec-WebSocket-Protocol header (`hdms`, `access_token.<jwt>`),
never in the URL, so it does not end up in access logs. A reconnecting client adds
`?last_event_id=<seq>` (not a secret) and first receives every event it missed, in order.

Server → client messages: ticket events (`{"type": "comment.added", "seq": 42, ...}`),
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
import contextlib
import json
import logging
import time
from collections import OrderedDict
from functools import partial
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from redis.exceptions import RedisError

from hdms_platform import audit, errors
from hdms_platform.auth.tokens import user_from_token
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
CLOSE_TRY_AGAIN_LATER = errors.close_code(errors.Unavailable())
PRESENCE_STATES = ("viewing", "replying")
# Group messages handled without touching the database (see TicketConsumer.dispatch)
NO_DATABASE_MESSAGES = frozenset({"ticket.event", "presence.changed"})
# Redis failing (refused, reset, timed out) — not any OSError: a client that vanished is not news
CHANNEL_LAYER_ERRORS = (RedisError, ConnectionError, TimeoutError)

logger = logging.getLogger("hdms.sockets")


class TicketConsumer(AsyncJsonWebsocketConsumer):
    last_seq: int  # the last stored event sent (connect sets it)

    async def __call__(self, scope, receive, send):
        """Tell the client when the channel layer fails under an open socket (a close frame with
        1013, not a dropped connection), so it knows to reconnect and replay."""
        try:
            await self._serve(scope, receive, send)
        except CHANNEL_LAYER_ERRORS as exc:
            logger.warning("channel layer failed under an open socket: %s: %s", type(exc).__name__, exc)
            with contextlib.suppress(Exception):  # the client may already be gone
                await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER, "reason": "live updates interrupted"})

    async def _serve(self, scope, receive, send):
        """channels' AsyncConsumer.__call__, with one loop per source instead of its
        await_many_dispatch, which creates a task and an asyncio.wait per message: per socket per
        event at fan-out (docs/performance-profiles.md). Messages are still dispatched one at a
        time, in arrival order per source (the lock): a replay and a live event never interleave."""
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.base_send = send
        self.one_at_a_time = asyncio.Lock()
        self.sending = None  # a live event's send that had to wait for the socket (deliver_now)

        async def pump(source):
            while True:
                message = await source()
                async with self.one_at_a_time:
                    if self.sending is not None:  # finish it first (and raise what it raised)
                        sending, self.sending = self.sending, None
                        await sending
                    await self.dispatch(message)

        pumps = [
            asyncio.ensure_future(pump(receive)),
            asyncio.ensure_future(pump(partial(self.channel_layer.receive, self.channel_name))),
        ]
        listen = getattr(self.channel_layer, "listen", None)  # hdms_platform.events.channel_layer's
        if listen is not None:
            listen(self.channel_name, self.deliver_now)
        try:
            done, _ = await asyncio.wait(pumps, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        except StopConsumer:
            pass
        finally:
            if listen is not None:
                self.channel_layer.unlisten(self.channel_name)
            if self.sending is not None:
                pumps.append(self.sending)
            for task in pumps:
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)

    def deliver_now(self, message) -> bool:
        """A live ticket event, sent from the channel layer's receive loop as it arrives (the
        layer's `listen`): no task step, queue hand-off or dispatch per socket. Declined (False:
        it goes through receive() and dispatch as before) while this consumer is busy — connecting,
        replaying, handling anything — or an earlier send is still waiting, so the order holds.
        Same checks as ticket_event. A send the socket cannot take yet (uvicorn's back-pressure)
        finishes in a task the next dispatch awaits first; a send that fails is declined, and
        dispatch then meets the same failure in the consumer's own task."""
        if message.get("type") != "ticket.event" or self.one_at_a_time.locked() or self.sending is not None:
            return False
        event = message["event"]
        seq = event.get("seq")
        if not self._visible(event) or (seq is not None and seq <= self.last_seq):
            return True
        send = self.base_send({"type": "websocket.send", "text": encoded(event)})
        try:
            waiting = send.send(None)
        except StopIteration:
            waiting = None
        except Exception:  # noqa: BLE001 - declined: dispatch meets it again, where it ends the consumer
            return False
        else:
            self.sending = asyncio.ensure_future(_finish(send, waiting))
        if seq is not None:
            self.last_seq = seq
        return True

    async def dispatch(self, message):
        """Channels closes stale database connections before every message it dispatches: a hop
        to the one shared sync thread per socket per event, where 1,000 subscribers' deliveries
        queued one behind the other (27% of a worker's CPU and most of the fan-out latency in the
        bench profile, docs/performance-profiles.md). Group messages never touch the database, so
        they skip it; everything else (connect, client messages, disconnect) keeps it."""
        if message["type"] in NO_DATABASE_MESSAGES:
            return await getattr(self, get_handler_name(message))(message)
        return await super().dispatch(message)

    async def connect(self):
        self.group = None
        self.counted = False  # this socket is in its user's count (services.socket_opened)
        # What the client says it has (last_event_id) is already sent: a redelivered broadcast of an
        # older event must not reach it again, even when the replay finds nothing newer.
        self.last_seq = self._last_event_id() or 0
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
            await self._send_event(event)
        await self.send_json({"type": "replay.done", "last_event_id": self.last_seq or after, "replayed": len(missed)})

    async def _send_event(self, event: dict):
        seq = event.get("seq")  # stored events carry one; probes (verify.ping) do not
        if seq is not None:
            if seq <= self.last_seq:
                return  # already sent (replayed, or a redelivered broadcast)
            self.last_seq = seq
        await self.send(text_data=encoded(event))

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
        if self._visible(message["event"]):
            await self._send_event(message["event"])

    def _visible(self, event: dict) -> bool:
        return event.get("audience", "everyone") in visible_audiences(is_staff=self.user.is_staff_member)

    async def presence_changed(self, message):
        await self.send_json(presence_for(self.user, message["event"]))


async def _finish(coroutine, waiting) -> None:
    """Run a started coroutine to its end: `waiting` is what it last yielded (a future it waits on,
    or None for a bare yield). What a Task does, for a coroutine begun outside one
    (TicketConsumer.deliver_now); the coroutine reads its future's outcome itself on resuming."""
    loop = asyncio.get_running_loop()
    while True:
        resume = loop.create_future()
        if waiting is None:
            loop.call_soon(resume.set_result, None)
        else:
            waiting.add_done_callback(lambda _, resume=resume: resume.done() or resume.set_result(None))
        try:
            await resume
        except asyncio.CancelledError:
            coroutine.close()
            raise
        try:
            waiting = coroutine.send(None)
        except StopIteration:
            return


_recent_texts: OrderedDict[tuple, str] = OrderedDict()  # (event id, seq) -> JSON, the last 64 events


def encoded(event: dict) -> str:
    """An event's JSON, encoded once per process however many sockets it goes to (every socket of
    a ticket sends the same text; encoding it per socket was a tenth of a worker's fan-out time).
    Keyed by id and sequence number: one stored event, one text."""
    key = (event.get("id"), event.get("seq"))
    text = _recent_texts.get(key)
    if text is None:
        text = json.dumps(event)
        if key[0] is not None:
            _recent_texts[key] = text
            if len(_recent_texts) > 64:
                _recent_texts.popitem(last=False)
    return text


def presence_for(user, presence: dict) -> dict:
    """Agents and admins see who is there by email; a customer sees staff by role only, never
    their addresses (a customer's own entry keeps its email)."""
    if user.is_staff_member:
        return presence
    viewers = [v if v["user_id"] == str(user.id) else {k: x for k, x in v.items() if k != "email"} for v in presence["viewers"]]
    return {**presence, "viewers": viewers}
