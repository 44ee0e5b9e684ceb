"""A small client of the running helpdesk, for the end-to-end tests: real HTTP, real WebSockets."""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from dataclasses import dataclass

import httpx
from PIL import Image
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from hdms_platform.testing.seed import DEV_PASSWORD, USERS

PASSWORD = "e2e-correct-horse-42"


@dataclass
class Person:
    email: str
    token: str
    user_id: str


class Helpdesk:
    def __init__(self, env: dict[str, str], *, through_gateway: bool = False):
        """Each service on its own port, or (`through_gateway`) everything through the one front door."""
        if through_gateway:
            gateway = f"127.0.0.1:{env['GATEWAY_PORT']}"
            self.urls = dict.fromkeys(("user", "ticket", "communication", "file"), f"http://{gateway}")
            self.ws = f"ws://{gateway}"
        else:
            self.urls = {
                s: f"http://127.0.0.1:{env[f'{s.upper()}_SERVICE_PORT']}" for s in ("user", "ticket", "communication", "file")
            }
            self.ws = f"ws://127.0.0.1:{env['COMMUNICATION_SERVICE_PORT']}"

    def call(self, service: str, method: str, path: str, who: Person | None = None, **kwargs) -> httpx.Response:
        headers = {"Authorization": f"Bearer {who.token}"} if who else {}
        return httpx.request(method, self.urls[service] + path, headers=headers, timeout=10, **kwargs)

    def login(self, email: str, password: str) -> Person:
        response = self.call("user", "POST", "/api/v1/auth/login/", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        body = response.json()
        return Person(email, body["access"], body["user"]["id"])

    def customer(self) -> Person:
        email = f"c-{uuid.uuid4().hex[:10]}@example.com"
        assert self.call("user", "POST", "/api/v1/auth/register/", json={"email": email, "password": PASSWORD}).status_code == 202
        return self.login(email, PASSWORD)

    def agent(self) -> Person:
        return self.login(USERS["agent"][1], DEV_PASSWORD)

    def ticket(self, who: Person, subject: str = "Printer on fire") -> dict:
        response = self.call("ticket", "POST", "/api/v1/tickets/", who, json={"subject": subject})
        assert response.status_code == 201, response.text
        return response.json()

    def comment(self, who: Person, ticket_id: str, body: str, internal: bool = False) -> dict:
        response = self.call(
            "ticket", "POST", f"/api/v1/tickets/{ticket_id}/comments/", who, json={"body": body, "is_internal": internal}
        )
        assert response.status_code == 201, response.text
        return response.json()

    def socket(self, who: Person, ticket_id: str, last_event_id: int | None = None):
        query = f"?last_event_id={last_event_id}" if last_event_id is not None else ""
        return connect(
            f"{self.ws}/ws/tickets/{ticket_id}/{query}", subprotocols=["hdms", f"access_token.{who.token}"], open_timeout=5
        )


async def next_message(ws, *, timeout: float = 5.0, where=lambda m: True) -> dict:
    """The next message matching `where` (others are skipped), or AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no matching message within {timeout}s")
        try:
            message = json.loads(await asyncio.wait_for(ws.recv(), remaining))
        except TimeoutError:
            raise AssertionError(f"no matching message within {timeout}s") from None
        if where(message):
            return message


async def close_code(ws_context, timeout: float = 5) -> int:
    """Open a socket the server should close; return the close code it sent."""
    try:
        async with ws_context as ws:
            await asyncio.wait_for(ws.recv(), timeout)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else -1
    raise AssertionError("the socket was not closed")


def png(size=(320, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def upload(desk: Helpdesk, who: Person, ticket_id: str, name: str, content: bytes, mime: str = "application/octet-stream"):
    return desk.call(
        "file", "POST", "/api/v1/attachments/", who, data={"ticket_id": ticket_id}, files={"file": (name, content, mime)}
    )


def wait_status(desk: Helpdesk, who: Person, attachment_id: str, wanted: set[str], timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = desk.call("file", "GET", f"/api/v1/attachments/{attachment_id}/", who).json()
        if body["status"] in wanted:
            return body
        time.sleep(0.1)
    raise AssertionError(f"attachment {attachment_id} still {body['status']} after {timeout}s")
