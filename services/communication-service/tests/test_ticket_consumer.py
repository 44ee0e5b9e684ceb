"""The ticket socket over the real channel layer (Redis db 1), with real signed tokens."""

import asyncio
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.core.cache import cache

from apps.conversations import selectors, services
from apps.conversations.models import TicketEvent
from core.asgi import application
from hdms_platform.events.contracts import group_message, ticket_group
from hdms_platform.testing.tokens import make_access_token

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def communicator(ticket_id, token=None, query=""):
    protocols = ["hdms"] + ([f"access_token.{token}"] if token else [])
    return WebsocketCommunicator(application, f"/ws/tickets/{ticket_id}/{query}", subprotocols=protocols)


def event(ticket_id, audience="everyone", kind="comment.added"):
    return {
        "id": str(uuid.uuid4()),
        "type": kind,
        "ticket_id": str(ticket_id),
        "audience": audience,
        "occurred_at": "2026-01-01T00:00:00Z",
        "data": {
            "comment": {
                "id": str(uuid.uuid4()),
                "author_id": str(uuid.uuid4()),
                "body": "hi",
                "is_internal": False,
                "created_at": "2026-01-01T00:00:00Z",
            }
        },  # comment.added's contract
    }


async def ingest(e):
    (row,) = await database_sync_to_async(services.event_ingest)(e)
    await get_channel_layer().group_send(ticket_group(row.ticket_id), group_message(selectors.broadcast_form(row)))
    return row


async def customer_socket(ticket_id):
    """A customer's socket on `ticket_id` whose access ticket-service already granted (its cached yes,
    see hdms_platform.peers.ticket), not yet connected."""
    customer = uuid.uuid4()
    await cache.aset(f"access:ticket:{customer}:{ticket_id}", True, 60)
    return communicator(ticket_id, make_access_token(user_id=customer, roles=("customer",)))


async def test_no_token_is_closed_with_4401():
    ws = communicator(uuid.uuid4())
    connected, _ = await ws.connect()
    assert connected
    assert (await ws.receive_output())["code"] == 4401


async def test_tampered_token_is_closed_with_4401():
    token = make_access_token(roles=("agent",))
    ws = communicator(uuid.uuid4(), token[:-4] + "AAAA")
    await ws.connect()
    assert (await ws.receive_output())["code"] == 4401


async def test_a_customer_is_told_to_retry_when_the_access_rule_cannot_be_asked(settings):
    settings.TICKET_SERVICE_URL = "http://127.0.0.1:1"  # nothing listens: ticket-service is "down"
    ws = communicator(uuid.uuid4(), make_access_token(roles=("customer",)))
    await ws.connect()
    assert (await ws.receive_output())["code"] == 1013


async def test_agent_receives_events_including_staff_only_once_each():
    ticket_id = uuid.uuid4()
    ws = communicator(ticket_id, make_access_token(roles=("agent",)))
    connected, subprotocol = await ws.connect()
    assert connected and subprotocol == "hdms"
    row = await ingest(event(ticket_id, audience="staff"))
    received = await ws.receive_json_from(timeout=3)
    assert (received["id"], received["seq"]) == (str(row.event_id), row.id)
    await get_channel_layer().group_send(ticket_group(ticket_id), group_message(selectors.broadcast_form(row)))  # redelivery
    assert await ws.receive_nothing(timeout=0.5)
    await ws.disconnect()


async def test_customer_never_receives_staff_only_events():
    ticket_id = uuid.uuid4()
    ws = await customer_socket(ticket_id)
    assert (await ws.connect())[0]
    await ingest(event(ticket_id, audience="staff"))
    public = await ingest(event(ticket_id))
    assert (await ws.receive_json_from(timeout=3))["id"] == str(public.event_id)
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


async def test_an_event_is_stored_once_whatever_the_redeliveries():
    e = event(uuid.uuid4())
    (first,) = await database_sync_to_async(services.event_ingest)(e)
    (again,) = await database_sync_to_async(services.event_ingest)(e)
    assert first.id == again.id
    assert await database_sync_to_async(TicketEvent.objects.filter(event_id=e["id"]).count)() == 1


async def test_reconnect_with_the_last_id_replays_what_was_missed_in_order_once():
    ticket_id = uuid.uuid4()
    token = make_access_token(roles=("agent",))
    ws = communicator(ticket_id, token)
    await ws.connect()
    seen = await ingest(event(ticket_id))
    assert (await ws.receive_json_from(timeout=3))["seq"] == seen.id
    await ws.disconnect()
    missed = [await ingest(event(ticket_id, kind=k)) for k in ("comment.added", "ticket.updated", "comment.added")]
    await ingest(event(uuid.uuid4()))  # another ticket's event is not replayed

    ws = communicator(ticket_id, token, query=f"?last_event_id={seen.id}")
    await ws.connect()
    replayed = [await ws.receive_json_from(timeout=3) for _ in missed]
    assert [e["seq"] for e in replayed] == [m.id for m in missed]
    assert await ws.receive_json_from(timeout=3) == {"type": "replay.done", "last_event_id": missed[-1].id, "replayed": 3}
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


async def test_a_redelivered_broadcast_the_client_already_has_is_not_sent_again():
    """The client's last_event_id is what it has: with nothing to replay, a broadcast of an older
    event (the events worker redelivers after a Redis outage) must not reach it a second time.
    Seen in compose's Redis fault row: seqs 47 and 49 on the socket before its 1013 and again after."""
    ticket_id = uuid.uuid4()
    token = make_access_token(roles=("agent",))
    had = await ingest(event(ticket_id))  # the client saw it on an earlier socket
    ws = communicator(ticket_id, token, query=f"?last_event_id={had.id}")
    await ws.connect()
    assert await ws.receive_json_from(timeout=3) == {"type": "replay.done", "last_event_id": had.id, "replayed": 0}
    layer, group = get_channel_layer(), ticket_group(ticket_id)
    await layer.group_send(group, group_message(selectors.broadcast_form(had)))  # the redelivery
    new = await ingest(event(ticket_id))  # something new
    assert (await ws.receive_json_from(timeout=3))["seq"] == new.id  # the old one was dropped
    await ws.disconnect()


async def test_presence_appears_changes_and_expires(settings):
    settings.PRESENCE_TTL_SECONDS = 1
    ticket_id = uuid.uuid4()
    a = communicator(ticket_id, make_access_token(roles=("agent",), email="a@example.com"))
    b = communicator(ticket_id, make_access_token(roles=("agent",), email="b@example.com"))
    await a.connect()
    await b.connect()
    await a.send_json_to({"type": "presence", "state": "replying"})
    seen_by_b = await b.receive_json_from(timeout=3)
    assert seen_by_b["type"] == "presence" and [(v["email"], v["state"]) for v in seen_by_b["viewers"]] == [
        ("a@example.com", "replying")
    ]
    await a.receive_json_from(timeout=3)  # a sees itself too
    await asyncio.sleep(1.2)  # a stops sending heartbeats
    await b.send_json_to({"type": "presence", "state": "viewing"})
    latest = await b.receive_json_from(timeout=3)
    assert [v["email"] for v in latest["viewers"]] == ["b@example.com"]
    await b.send_json_to({"type": "hello"})
    assert (await b.receive_json_from(timeout=3))["error"]["code"] == "invalid"
    await a.disconnect()
    await b.disconnect()


async def test_a_silent_viewer_leaving_broadcasts_nothing_an_announced_one_does():
    """With 1,000 watchers, a broadcast per disconnect would be a million messages for nothing."""
    ticket_id = uuid.uuid4()
    watcher = communicator(ticket_id, make_access_token(roles=("agent",), email="w@example.com"))
    silent = communicator(ticket_id, make_access_token(roles=("agent",), email="s@example.com"))
    talker = communicator(ticket_id, make_access_token(roles=("agent",), email="t@example.com"))
    for ws in (watcher, silent, talker):
        assert (await ws.connect())[0]
    await silent.disconnect()
    assert await watcher.receive_nothing(timeout=0.5)
    await talker.send_json_to({"type": "presence", "state": "viewing"})
    assert [v["email"] for v in (await watcher.receive_json_from(timeout=3))["viewers"]] == ["t@example.com"]
    await talker.disconnect()
    assert (await watcher.receive_json_from(timeout=3))["viewers"] == []
    await watcher.disconnect()


async def test_group_messages_skip_the_per_message_hop_to_the_sync_thread(monkeypatch):
    """Channels closes stale database connections before each dispatched message, in the one
    sync thread; group messages touch no database and must not queue there (the fan-out profile)."""
    import channels.consumer

    hops = []
    original = channels.consumer.aclose_old_connections

    async def counted():
        hops.append(1)
        return await original()

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counted)
    ticket_id = uuid.uuid4()
    ws = communicator(ticket_id, make_access_token(roles=("agent",)))
    assert (await ws.connect())[0]
    assert hops, "the handshake (which reads the database) keeps the hop"
    hops.clear()
    row = await ingest(event(ticket_id))
    assert (await ws.receive_json_from(timeout=3))["seq"] == row.id
    assert hops == []
    await ws.disconnect()


async def test_live_events_during_a_replay_follow_it_in_order_once(monkeypatch):
    """Live events go straight from the channel layer to the socket (deliver_now), except while the
    consumer is busy: those sent during a replay must come after it, in order, not jump ahead."""
    import threading
    import time

    from apps.conversations import selectors

    original = selectors.events_since
    queried, replayed = threading.Event(), threading.Event()

    def slow_replay(**kwargs):
        missed = original(**kwargs)
        queried.set()
        time.sleep(0.6)  # the live events below arrive now, after the replay's query
        replayed.set()
        return missed

    monkeypatch.setattr(selectors, "events_since", slow_replay)
    ticket_id = uuid.uuid4()
    token = make_access_token(roles=("agent",))
    first = await ingest(event(ticket_id))
    missed = [await ingest(event(ticket_id)) for _ in range(2)]
    ws = communicator(ticket_id, token, query=f"?last_event_id={first.id}")
    await ws.connect()
    while not queried.is_set():
        await asyncio.sleep(0.01)
    # published as the relay would, without the sync thread the replay is holding
    live = [missed[-1].id + n for n in (1, 2, 3)]
    for seq in live:
        await get_channel_layer().group_send(ticket_group(ticket_id), group_message({**event(ticket_id), "seq": seq}))
    assert not replayed.is_set(), "the replay ended before the live events were sent: the test proves nothing"
    received = [await ws.receive_json_from(timeout=3) for _ in range(6)]
    assert [m.get("seq", "done") for m in received] == [missed[0].id, missed[1].id, "done", *live]
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


async def test_a_live_event_is_sent_from_the_channel_layer_without_a_dispatch(monkeypatch):
    """The fan-out lever: an idle socket's live event is written from the layer's receive loop
    (TicketConsumer.deliver_now), not queued for the consumer's task and dispatched."""
    from apps.conversations.consumers import TicketConsumer

    dispatched = []
    original = TicketConsumer.ticket_event

    async def counted(self, message):
        dispatched.append(message["event"]["id"])
        return await original(self, message)

    monkeypatch.setattr(TicketConsumer, "ticket_event", counted)
    ticket_id = uuid.uuid4()
    ws = communicator(ticket_id, make_access_token(roles=("agent",)))
    assert (await ws.connect())[0]
    rows = [await ingest(event(ticket_id)) for _ in range(3)]
    assert [(await ws.receive_json_from(timeout=3))["seq"] for _ in rows] == [r.id for r in rows]
    assert dispatched == []
    await ws.disconnect()


async def test_a_send_that_had_to_wait_is_finished_in_order_and_its_failure_is_kept():
    """deliver_now's back-pressure path: a send begun outside a task that suspended (the socket's
    buffer was full) is run to its end by _finish once what it waits on is done."""
    from hdms_platform.events.consumer import _finish

    loop = asyncio.get_running_loop()
    writable, steps = loop.create_future(), []

    async def send(fail=False):
        steps.append("begun")
        await writable
        await asyncio.sleep(0)
        steps.append("written")
        if fail:
            raise ConnectionResetError("the client went away")

    started = send()
    finishing = asyncio.ensure_future(_finish(started, started.send(None)))
    await asyncio.sleep(0.05)
    assert steps == ["begun"] and not finishing.done()
    writable.set_result(None)
    await asyncio.wait_for(finishing, 1)
    assert steps == ["begun", "written"]

    writable = loop.create_future()
    started = send(fail=True)
    finishing = asyncio.ensure_future(_finish(started, started.send(None)))
    writable.set_result(None)
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(finishing, 1)


async def test_a_late_broadcast_of_an_earlier_event_is_not_lost():
    """The fault suite's lost seq 83: an events-worker task whose commit went through but which saw an
    error (PgBouncer stopped under the COMMIT) retries later; meanwhile the next task stores and
    broadcasts the following event. The earlier event's broadcast then arrives after the later one's,
    and a socket that dropped every number at or below the last it sent lost it without a trace."""
    ticket_id = uuid.uuid4()
    ws = communicator(ticket_id, make_access_token(roles=("agent",)))
    assert (await ws.connect())[0]
    (first,) = await database_sync_to_async(services.event_ingest)(event(ticket_id))
    (second,) = await database_sync_to_async(services.event_ingest)(event(ticket_id))
    layer = get_channel_layer()
    for row in (second, first):  # the retried task's broadcast comes last
        await layer.group_send(ticket_group(ticket_id), group_message(selectors.broadcast_form(row)))
    got = [await ws.receive_json_from(timeout=3), await ws.receive_json_from(timeout=3)]
    assert [e["id"] for e in got] == [str(first.event_id), str(second.event_id)]  # both, in order
    assert [e["ticket_seq"] for e in got] == [first.ticket_seq, second.ticket_seq] == [first.ticket_seq, first.ticket_seq + 1]
    assert await ws.receive_nothing(timeout=0.5)  # and each once
    await ws.disconnect()


async def test_a_customer_skips_staff_only_numbers_and_misses_nothing():
    ticket_id = uuid.uuid4()
    ws = await customer_socket(ticket_id)
    assert (await ws.connect())[0]
    rows = [(await database_sync_to_async(services.event_ingest)(event(ticket_id, audience=a)))[0] for a in ("staff", "everyone")]
    layer = get_channel_layer()
    for row in rows:
        await layer.group_send(ticket_group(ticket_id), group_message(selectors.broadcast_form(row)))
    got = await ws.receive_json_from(timeout=3)
    assert (got["id"], got["ticket_seq"]) == (str(rows[1].event_id), rows[0].ticket_seq + 1)
    assert await ws.receive_nothing(timeout=0.5)
    await ws.disconnect()
