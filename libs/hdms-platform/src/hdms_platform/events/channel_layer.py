"""The Channels layer: channels-redis' pub/sub layer, made to say when it may have lost messages.

Why pub/sub: a group message is one PUBLISH, received once by each process that has sockets in
the group and fanned out there, instead of channels_redis.core's one sorted-set entry per socket,
each popped by its process with its own round trip. Measured side by side in docs/performance.md.

Why a subclass: the library's receive loop logs a Redis failure and goes on, and redis-py
reconnects and re-subscribes without telling anyone; what was published in between is lost and
no socket knows. Here every channel waiting on the layer in that process receives a
`ChannelLayerLost` error instead, on a failure and on any reconnect: its consumer closes with
1013, and the client reconnects with `?last_event_id=` and replays from PostgreSQL — the contract
the list layer kept by raising from its blocking pop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _wrap_close, create_pool
from redis import asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

logger = logging.getLogger("hdms.channels")


class ChannelLayerLost(ConnectionError):
    """Redis failed or reconnected under a channel: messages for it may have been lost."""


class _PubSub(PubSub):
    layer: _LoopLayer

    async def on_connect(self, connection: Any) -> None:
        # redis-py calls this on a *re*connect only (the first connection is made before the
        # callback is registered). What was subscribed before it may have missed messages in the
        # gap; a channel subscribing just now (an idle connection woken by it) has missed nothing.
        lost = {c.decode() if isinstance(c, bytes) else c for c in self.channels}  # bytes: no decode_responses
        await super().on_connect(connection)
        self.layer.fail(lost, "Redis connection re-established; messages in the gap may be lost")


class _Shard(RedisSingleShardConnection):  # type: ignore[misc]  # channels-redis is untyped
    channel_layer: _LoopLayer
    _redis: aioredis.Redis | None
    _pubsub: _PubSub | None
    _receive_task: asyncio.Task[None] | None
    _subscribed_to: set[str]

    def _ensure_redis(self) -> None:
        if self._redis is None:
            redis = aioredis.Redis(connection_pool=create_pool(self.host))
            pubsub = _PubSub(redis.connection_pool)
            pubsub.layer = self.channel_layer
            self._redis, self._pubsub = redis, pubsub

    async def subscribe(self, channel: str) -> None:
        """The library's, except that a connection left idle (nothing subscribed: nobody reads it)
        is started afresh by its first subscriber: it may have died unnoticed, and writing into
        it would race the reconnect, which would tell that subscriber it lost messages."""
        async with self._lock:
            if channel not in self._subscribed_to:
                self._ensure_redis()
                self._ensure_receiver()
                assert self._pubsub is not None
                if not self._subscribed_to:
                    await self._pubsub.aclose()  # type: ignore[no-untyped-call]  # back to the pool; reconnects below
                await self._pubsub.subscribe(channel)
                self._subscribed_to.add(channel)

    def _receive_message(self, message: dict[str, Any] | None) -> None:
        """The library's, but a group message is decoded once and the one dict handed to every
        local member (the library decoded it once per member: per socket per event at fan-out).
        Consumers only read their messages."""
        if message is None:
            return
        name = message["channel"].decode() if isinstance(message["channel"], bytes) else message["channel"]
        layer = self.channel_layer
        if name in layer.channels:
            layer.channels[name].put_nowait(message["data"])
        elif name in layer.groups:
            decoded = layer.channel_layer.deserialize(message["data"])
            for channel in layer.groups[name]:
                queue = layer.channels.get(channel)
                if queue is None:
                    continue
                listener = layer.listeners.get(channel)
                # behind anything already queued, or declined: the channel's receive() gets it
                if listener is None or not queue.empty() or not _offer(listener, decoded):
                    queue.put_nowait(decoded)

    async def _do_receiving(self) -> None:
        while True:
            try:
                if self._pubsub and self._pubsub.subscribed:
                    message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
                    self._receive_message(message)
                else:
                    await asyncio.sleep(0.1)
            except (RedisError, OSError) as exc:
                logger.warning("channel layer lost Redis: %s: %s", type(exc).__name__, exc)
                self.channel_layer.fail(None, f"{type(exc).__name__}: {exc}")
                await self._forget_connection()
                return

    async def _forget_connection(self) -> None:
        """Start afresh on the next subscribe: new client, new receiver, nothing subscribed."""
        redis, self._redis, self._pubsub, self._receive_task = self._redis, None, None, None
        self._subscribed_to = set()
        if redis is not None:
            with contextlib.suppress(Exception):  # the server is gone; closing is best effort
                await redis.aclose()


def _offer(listener: Callable[[dict[str, Any]], bool], message: dict[str, Any]) -> bool:
    try:
        return listener(message)
    except Exception:  # a listener's bug must not stop this loop, which every socket here depends on
        logger.exception("channel layer: a listener failed; the message goes to its channel's receive()")
        return False


class _LoopLayer(RedisPubSubLoopLayer):  # type: ignore[misc]
    channel_layer: PubSubChannelLayer
    channels: dict[str, asyncio.Queue[Any]]
    groups: dict[str, set[str]]
    listeners: dict[str, Callable[[dict[str, Any]], bool]]
    _shards: list[_Shard]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shards = [_Shard(shard.host, self) for shard in self._shards]
        self.listeners = {}

    def fail(self, names: set[str] | None, reason: str) -> None:
        """Every channel among `names` (all if None), or in a group among them, gets the error in
        place of its next message and leaves its groups; its consumer closes, and the library
        unsubscribes the channel then."""
        failed = set(self.channels) if names is None else names & set(self.channels)
        for group in list(self.groups) if names is None else names & set(self.groups):
            failed |= self.groups.pop(group)
        for members in self.groups.values():
            members -= failed
        for channel in failed & set(self.channels):
            self.channels[channel].put_nowait(ChannelLayerLost(reason))
        if failed:
            logger.warning("channel layer: %d channel(s) told to reconnect: %s", len(failed), reason)


class PubSubChannelLayer(RedisPubSubChannelLayer):  # type: ignore[misc]
    """settings.CHANNEL_LAYERS' backend (hdms_platform.conf.builders.channel_layers)."""

    def _get_layer(self) -> _LoopLayer:  # the library's, with our loop layer
        loop = asyncio.get_running_loop()
        layer: _LoopLayer | None = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = _LoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)  # flushes the layer when its loop closes
        return layer

    def listen(self, channel: str, listener: Callable[[dict[str, Any]], bool]) -> None:
        """Group messages for `channel` go to `listener(message)` as they arrive, in the layer's
        receive loop, instead of waking the channel's receive(): one task step and a queue hand-off
        less per socket per event at fan-out (docs/performance-profiles.md). The listener returns
        False to decline a message (it then goes to receive() as usual); it is only offered one when
        nothing is queued for the channel, so the two paths never reorder messages. Failures
        (ChannelLayerLost) and direct messages always go to receive()."""
        self._get_layer().listeners[channel] = listener

    def unlisten(self, channel: str) -> None:
        self._get_layer().listeners.pop(channel, None)

    def deserialize(self, message: Any) -> Any:
        if isinstance(message, ChannelLayerLost):
            raise message
        if isinstance(message, dict):  # a group message, decoded once for all members (_receive_message)
            return message
        return super().deserialize(message)


def standalone(namespace: str = "communication") -> PubSubChannelLayer:
    """The layer settings.CHANNEL_LAYERS names, for code outside Django (tools, probes, the bench).
    Close it with `await layer.flush()`."""
    from hdms_platform.conf.builders import channel_layers

    return PubSubChannelLayer(**channel_layers(namespace)["default"]["CONFIG"])
