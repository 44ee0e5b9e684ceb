"""End to end over real HTTP and WebSockets: ticket events reach the right sockets, once, in order.

ticket-service writes each event to its outbox in the change's transaction; its relay hands it to
communication-service's queue (Redis db 2); the events worker stores it once and fans it out over
the channel layer (Redis db 1). Delivery latency is printed, not asserted (benchmarks measure it).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from .conftest import manage
from .helpdesk import Helpdesk, close_code, next_message

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def desk(stack_env) -> Helpdesk:
    seeded = manage("user", "seed_dev_data")
    assert seeded.returncode == 0, seeded.stderr
    return Helpdesk(stack_env)


def is_event(kind: str):
    return lambda m: m.get("type") == kind


async def test_public_comments_and_status_changes_reach_the_customer_internal_notes_never(desk):
    customer, agent = desk.customer(), desk.agent()
    ticket = desk.ticket(customer)
    async with desk.socket(customer, ticket["id"]) as ws:
        sent = time.monotonic()
        desk.comment(agent, ticket["id"], "Have you tried turning it off and on again?")
        message = await next_message(ws, where=is_event("comment.added"))
        print(f"\ncomment -> customer socket: {(time.monotonic() - sent) * 1000:.0f} ms")
        assert message["data"]["comment"]["body"].startswith("Have you tried")

        desk.comment(agent, ticket["id"], "Customer seems confused", internal=True)
        response = desk.call("ticket", "POST", f"/api/v1/tickets/{ticket['id']}/transition/", agent, json={"status": "pending"})
        assert response.status_code == 200
        # the status change, published after the note, arrives; the note never does
        update = await next_message(ws, where=lambda m: m.get("type") in ("ticket.updated", "comment.added"))
        assert update["type"] == "ticket.updated" and update["data"]["changes"]["status"] == {"old": "open", "new": "pending"}
        with pytest.raises(AssertionError):
            await next_message(ws, timeout=1.0, where=is_event("comment.added"))


async def test_an_agent_sees_internal_notes_live(desk):
    customer, agent = desk.customer(), desk.agent()
    ticket = desk.ticket(customer)
    async with desk.socket(agent, ticket["id"]) as ws:
        desk.comment(agent, ticket["id"], "internal: escalate to level 2", internal=True)
        message = await next_message(ws, where=is_event("comment.added"))
        assert message["audience"] == "staff" and message["data"]["comment"]["is_internal"] is True


async def test_presence_appears_and_expires(desk):
    customer, agent = desk.customer(), desk.agent()
    ticket = desk.ticket(customer)
    async with desk.socket(customer, ticket["id"]) as c_ws, desk.socket(agent, ticket["id"]) as a_ws:
        await a_ws.send('{"type": "presence", "state": "replying"}')
        seen = await next_message(c_ws, where=lambda m: m.get("type") == "presence" and m["viewers"])
        assert [(v["user_id"], v["state"]) for v in seen["viewers"]] == [(agent.user_id, "replying")]  # no staff email
        await asyncio.sleep(2.5)  # the agent's heartbeats stop; PRESENCE_TTL_SECONDS is 2 in make test
        await c_ws.send('{"type": "presence", "state": "viewing"}')
        latest = await next_message(c_ws, where=lambda m: m.get("type") == "presence")
        assert [v["email"] for v in latest["viewers"]] == [customer.email]


async def test_a_reconnecting_client_gets_what_it_missed_in_order_once(desk):
    customer, agent = desk.customer(), desk.agent()
    ticket = desk.ticket(customer)
    async with desk.socket(customer, ticket["id"]) as ws:
        desk.comment(agent, ticket["id"], "first")
        last = (await next_message(ws, where=is_event("comment.added")))["seq"]
    for text in ("missed one", "missed two", "missed three"):
        desk.comment(agent, ticket["id"], text)
    desk.comment(agent, ticket["id"], "staff only", internal=True)
    await asyncio.sleep(1.5)  # let them be stored by communication-service while nobody listens

    async with desk.socket(customer, ticket["id"], last_event_id=last) as ws:
        replayed = []
        while True:
            message = await next_message(ws)
            if message["type"] == "replay.done":
                break
            replayed.append(message)
        assert [m["data"]["comment"]["body"] for m in replayed] == ["missed one", "missed two", "missed three"]
        assert [m["seq"] for m in replayed] == sorted({m["seq"] for m in replayed})
        assert message["replayed"] == 3
        with pytest.raises(AssertionError):  # nothing twice
            await next_message(ws, timeout=1.0, where=is_event("comment.added"))


async def test_a_socket_offering_no_subprotocol_is_refused_with_4401_not_a_broken_handshake(desk):
    """RFC 6455: the server may select only an offered subprotocol (strict clients fail otherwise)."""
    from websockets.asyncio.client import connect

    ticket = desk.ticket(desk.customer())
    assert await close_code(connect(f"{desk.ws}/ws/tickets/{ticket['id']}/", open_timeout=5)) == 4401


async def test_sockets_refuse_strangers_and_bad_tokens(desk):
    owner, stranger = desk.customer(), desk.customer()
    ticket = desk.ticket(owner)
    assert await close_code(desk.socket(stranger, ticket["id"])) == 4403
    forged = type(owner)(owner.email, owner.token[:-6] + "AAAAAA", owner.user_id)
    assert await close_code(desk.socket(forged, ticket["id"])) == 4401
    assert await close_code(desk.socket(owner, "00000000-0000-4000-8000-00000000beef")) == 4403
