"""hdms_platform.events.channel_layer on the real Redis: one publish reaches every local member of a group,
and a dropped connection is told to every waiting channel (not silently re-subscribed)."""

import asyncio
import uuid

import pytest
import redis

from hdms_platform.conf.builders import channel_layers
from hdms_platform.conf.env import env
from hdms_platform.events.channel_layer import ChannelLayerLost, PubSubChannelLayer

pytestmark = pytest.mark.asyncio


def named_layer(name: str) -> PubSubChannelLayer:
    """The configured layer, its connections named so the test can find and kill them."""
    config = channel_layers("communication")["default"]["CONFIG"]
    return PubSubChannelLayer(**{**config, "hosts": [{**config["hosts"][0], "client_name": name}]})


def kill_connections(name: str) -> int:
    admin = redis.Redis(
        host=env.str("REDIS_HOST", "127.0.0.1"),
        port=env.int("REDIS_PORT"),
        username="hdms-admin",
        password=env.str("REDIS_ADMIN_PASSWORD"),
    )
    ids = [c["id"] for c in admin.client_list() if c.get("name") == name]
    for client_id in ids:
        admin.client_kill_filter(_id=client_id)
    return len(ids)


async def test_one_publish_reaches_every_member_of_the_group_in_this_process():
    layer = named_layer(f"hdms-test-{uuid.uuid4().hex}")
    group = f"test-{uuid.uuid4().hex}"
    channels = [await layer.new_channel() for _ in range(3)]
    for channel in channels:
        await layer.group_add(group, channel)
    await layer.group_send(group, {"type": "ticket.event", "n": 1})
    received = [await asyncio.wait_for(layer.receive(c), 2) for c in channels]
    assert received == [{"type": "ticket.event", "n": 1}] * 3
    await layer.flush()


async def test_a_dropped_connection_fails_every_waiting_channel_instead_of_losing_messages_silently():
    name = f"hdms-test-{uuid.uuid4().hex}"
    layer = named_layer(name)
    group = f"test-{uuid.uuid4().hex}"
    channels = [await layer.new_channel() for _ in range(2)]
    await layer.group_add(group, channels[0])
    waiting = [asyncio.create_task(layer.receive(c)) for c in channels]
    await asyncio.sleep(0.2)
    assert kill_connections(name) >= 1
    for task in waiting:
        with pytest.raises(ChannelLayerLost):
            await asyncio.wait_for(task, 5)
    # the layer goes on: a new channel in the same group gets the next message
    fresh = await layer.new_channel()
    await layer.group_add(group, fresh)
    await layer.group_send(group, {"type": "ticket.event", "n": 2})
    assert await asyncio.wait_for(layer.receive(fresh), 2) == {"type": "ticket.event", "n": 2}
    await layer.flush()


async def test_a_channel_joining_over_a_connection_dropped_while_idle_is_not_failed():
    """The connection died while nothing was subscribed (so nothing was missed): the next
    subscriber reconnects it and must get its messages, not a 1013."""
    name = f"hdms-test-{uuid.uuid4().hex}"
    layer = named_layer(name)
    leaving = asyncio.create_task(layer.receive(await layer.new_channel()))
    await asyncio.sleep(0.2)
    leaving.cancel()  # a consumer went away: the layer unsubscribes its channel
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert kill_connections(name) >= 1
    await asyncio.sleep(0.3)
    group = f"test-{uuid.uuid4().hex}"
    joining = await layer.new_channel()
    await layer.group_add(group, joining)
    await layer.group_send(group, {"type": "ticket.event", "n": 3})
    assert await asyncio.wait_for(layer.receive(joining), 3) == {"type": "ticket.event", "n": 3}
    await layer.flush()


async def test_a_listener_takes_group_messages_unless_it_declines_or_messages_wait_in_the_queue():
    """TicketConsumer.deliver_now's contract: group messages go to the channel's listener as they
    arrive; what it declines, and anything arriving while earlier messages wait in the channel's
    queue, goes to receive() in order; a listener that raises loses nothing."""
    layer = named_layer(f"hdms-test-{uuid.uuid4().hex}")
    group = f"test-{uuid.uuid4().hex}"
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    offered, mode = [], {"answer": False}

    def listener(message):
        offered.append(message["n"])
        if mode["answer"] is None:
            raise RuntimeError("a listener's bug")
        return mode["answer"]

    layer.listen(channel, listener)
    first = asyncio.create_task(layer.receive(channel))  # subscribes the channel
    await asyncio.sleep(0.2)
    await layer.group_send(group, {"type": "ticket.event", "n": 0})
    assert (await asyncio.wait_for(first, 2))["n"] == 0  # declined: receive() has it
    await layer.group_send(group, {"type": "ticket.event", "n": 1})
    while 1 not in offered:  # declined again; nobody is receiving, so it waits in the queue
        await asyncio.sleep(0.01)
    mode["answer"] = True
    await layer.group_send(group, {"type": "ticket.event", "n": 2})  # behind n=1: not offered
    assert [(await asyncio.wait_for(layer.receive(channel), 2))["n"] for _ in range(2)] == [1, 2]
    assert offered == [0, 1]
    await layer.group_send(group, {"type": "ticket.event", "n": 3})  # the queue is empty: taken
    waiting = asyncio.create_task(layer.receive(channel))
    await asyncio.sleep(0.3)
    assert offered == [0, 1, 3] and not waiting.done()
    mode["answer"] = None
    await layer.group_send(group, {"type": "ticket.event", "n": 4})  # the listener raises
    assert (await asyncio.wait_for(waiting, 2))["n"] == 4
    layer.unlisten(channel)
    await layer.group_send(group, {"type": "ticket.event", "n": 5})
    assert (await asyncio.wait_for(layer.receive(channel), 2))["n"] == 5 and offered[-1] == 4
    await layer.flush()
