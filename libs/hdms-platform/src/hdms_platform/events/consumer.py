"""The plumbing of a socket that streams stored events in order: what channels' consumer does, made
cheap at fan-out and honest about failures. A service's consumer (communication-service's
TicketConsumer) subclasses LiveEventConsumer and says who may see an event (`visible`).

- One loop per source (the client, the channel layer) instead of channels' await_many_dispatch,
  which creates a task and an asyncio.wait per message; still one message at a time, in arrival
  order per source, so a replay and a live event never interleave.
- A live event is sent from the channel layer's receive loop as it arrives (`deliver_now`) when the
  consumer is idle; otherwise it goes through dispatch like any message.
- Group messages skip channels' per-message database clean-up (a hop to the shared sync thread).
- Every stored event is sent once and none is skipped: each ticket's events are numbered 1, 2, 3...
  (`ticket_seq`); a number at or below the socket's position is a repeat and dropped; a number past
  position + 1 means a broadcast is late or lost, and the missing events are fetched (`missed`, the
  subclass's database read) and sent first, in order — or the socket closes with 1013 when they
  cannot be, so the client replays. Never dropped in silence.
- The channel layer (Redis) failing under an open socket closes it with 1013, so the client
  reconnects and replays, instead of a dropped connection.

Why our own: channels has no hook for any of these; each was measured (docs/performance-profiles.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from redis.exceptions import RedisError

from hdms_platform import errors

CLOSE_TRY_AGAIN_LATER = errors.close_code(errors.Unavailable())
# Redis failing (refused, reset, timed out) — not any OSError: a client that vanished is not news
CHANNEL_LAYER_ERRORS = (RedisError, ConnectionError, TimeoutError)

logger = logging.getLogger("hdms.sockets")
Message = dict[str, Any]
Scope = dict[str, Any]
Source = Callable[[], Awaitable[Message]]
Sink = Callable[[Message], Coroutine[Any, Any, None]]  # uvicorn's send: a coroutine deliver_now steps itself


class LiveEventConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]  # channels ships no types
    position: int = 0  # the ticket's last event number sent or skipped as not visible (connect sets it)
    last_seq: int = 0  # the replay cursor (`seq`) of the last event sent, for the client's reconnect
    # Group messages handled without touching the database (see dispatch)
    no_database_messages = frozenset({"ticket.event", "presence.changed"})

    def visible(self, event: dict[str, Any]) -> bool:
        """May this socket's user see `event`? Every subclass says."""
        raise NotImplementedError

    async def missed(self, after: int, before: int) -> list[dict[str, Any]]:
        """The stored events numbered after..before (exclusive) this socket's user may see, in order."""
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Source, send: Sink) -> None:
        """Tell the client when the channel layer fails under an open socket (a close frame with
        1013, not a dropped connection), so it knows to reconnect and replay."""
        try:
            await self._serve(scope, receive, send)
        except CHANNEL_LAYER_ERRORS as exc:
            logger.warning("channel layer failed under an open socket: %s: %s", type(exc).__name__, exc)
            with contextlib.suppress(Exception):  # the client may already be gone
                await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER, "reason": "live updates interrupted"})

    async def _serve(self, scope: Scope, receive: Source, send: Sink) -> None:
        """channels' AsyncConsumer.__call__, with one loop per source instead of its
        await_many_dispatch, which creates a task and an asyncio.wait per message: per socket per
        event at fan-out (docs/performance-profiles.md). Messages are still dispatched one at a
        time, in arrival order per source (the lock): a replay and a live event never interleave."""
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.base_send = send
        self.one_at_a_time = asyncio.Lock()
        self.sending: asyncio.Future[None] | None = None  # a live event's send that had to wait for the socket (deliver_now)

        async def pump(source: Source) -> None:
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

    def deliver_now(self, message: Message) -> bool:
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
        number = event.get("ticket_seq")
        if number is not None and number > self.position + 1:
            return False  # one is missing: dispatch fetches it first (accept_event)
        if number is not None and number <= self.position:
            return True  # a repeat
        if number is not None:
            self.position = number
        if not self.visible(event):
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
        self.last_seq = max(self.last_seq, event.get("seq") or 0)
        return True

    async def dispatch(self, message: Message) -> None:
        """Channels closes stale database connections before every message it dispatches: a hop
        to the one shared sync thread per socket per event, where 1,000 subscribers' deliveries
        queued one behind the other (27% of a worker's CPU and most of the fan-out latency in the
        bench profile, docs/performance-profiles.md). Group messages never touch the database, so
        they skip it; everything else (connect, client messages, disconnect) keeps it."""
        if message["type"] in self.no_database_messages:
            await getattr(self, get_handler_name(message))(message)
        else:
            await super().dispatch(message)

    async def accept_event(self, event: dict[str, Any]) -> None:
        """A live event: sent in its ticket's order, what is missing before it fetched first."""
        number = event.get("ticket_seq")  # stored events carry one; probes (verify.ping) do not
        if number is not None:
            if number <= self.position:
                return  # a repeat: replayed, fetched, or a redelivered broadcast
            if number > self.position + 1 and not await self._catch_up(number):
                return
            self.position = number
        if self.visible(event):
            await self.send_event(event)

    async def _catch_up(self, number: int) -> bool:
        """Send what is missing before `number`; False (the socket closed 1013) when it cannot be read."""
        try:
            missed = await self.missed(self.position, number)
        except Exception as exc:  # noqa: BLE001 - whatever failed, the client must replay, not miss it
            logger.warning("events before %s could not be fetched for a socket: %s: %s", number, type(exc).__name__, exc)
            await self.close(code=CLOSE_TRY_AGAIN_LATER)
            self.position = number  # nothing more is sent on this socket
            return False
        logger.info(
            "socket %s: %d event(s) before %s arrived late or not at all; sent from the store",
            self.channel_name,
            len(missed),
            number,
        )
        for event in missed:
            await self.send_event(event)
        return True

    async def send_event(self, event: dict[str, Any]) -> None:
        """Send one event as it is (replayed or live, already in order)."""
        self.position = max(self.position, event.get("ticket_seq") or 0)
        self.last_seq = max(self.last_seq, event.get("seq") or 0)
        await self.send(text_data=encoded(event))


async def _finish(coroutine: Coroutine[Any, Any, Any], waiting: Any) -> None:
    """Run a started coroutine to its end: `waiting` is what it last yielded (a future it waits on,
    or None for a bare yield). What a Task does, for a coroutine begun outside one
    (LiveEventConsumer.deliver_now); the coroutine reads its future's outcome itself on resuming."""
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


_recent_texts: OrderedDict[tuple[Any, Any], str] = OrderedDict()  # (event id, seq) -> JSON, the last 64 events


def encoded(event: dict[str, Any]) -> str:
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
