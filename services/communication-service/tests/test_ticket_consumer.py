"""The ticket socket over the real channel layer (Redis db 1), with real signed tokens."""

import uuid

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from core.asgi import application
from hdms_platform.events import group_message, ticket_group
from hdms_platform.testing.tokens import make_access_token

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def communicator(ticket_id, token=None):
    protocols = ["hdms"] + ([f"access_token.{token}"] if token else [])
    return WebsocketCommunicator(application, f"/ws/tickets/{ticket_id}/", subprotocols=protocols)


def event(ticket_id, audience="everyone"):
    return {"id": str(uuid.uuid4()), "type": "comment.added", "ticket_id": str(ticket_id), "audience": audience,
            "occurred_at": "2026-01-01T00:00:00Z", "data": {"body": "hi"}}


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


async def test_agent_receives_group_events_including_staff_only():
    ticket_id = uuid.uuid4()
    ws = communicator(ticket_id, make_access_token(roles=("agent",)))
    connected, subprotocol = await ws.connect()
    assert connected and subprotocol == "hdms"
    layer = get_channel_layer()
    sent = event(ticket_id, audience="staff")
    await layer.group_send(ticket_group(ticket_id), group_message(sent))
    assert (await ws.receive_json_from(timeout=3))["id"] == sent["id"]
    await ws.disconnect()
