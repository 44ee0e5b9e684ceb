"""WebSocket consumers: thin. Authorise in connect, join the ticket's group, forward events.

The access token travels in the Sec-WebSocket-Protocol header (`hdms`, `access_token.<jwt>`),
never in the URL, so it does not end up in access logs.

Close codes: 4401 no or bad token · 4403 no access to this ticket (also for unknown tickets).
"""

from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from rest_framework.exceptions import AuthenticationFailed

from hdms_platform.auth import user_from_token
from hdms_platform.events import ticket_group

from .selectors import ticket_access_allowed

SUBPROTOCOL = "hdms"
TOKEN_PREFIX = "access_token."
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


class TicketConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.group = None
        token = next((p[len(TOKEN_PREFIX):] for p in self.scope.get("subprotocols", []) if p.startswith(TOKEN_PREFIX)), "")
        ticket_id = self.scope["url_route"]["kwargs"]["ticket_id"]
        try:
            self.user = user_from_token(token)
        except AuthenticationFailed:
            await self.accept(subprotocol=SUBPROTOCOL)
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await ticket_access_allowed(user=self.user, ticket_id=ticket_id):
            await self.accept(subprotocol=SUBPROTOCOL)
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.group = ticket_group(ticket_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept(subprotocol=SUBPROTOCOL)

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def ticket_event(self, message):
        event = message["event"]
        if event.get("audience") == "staff" and not self.user.is_staff_member:
            return
        await self.send_json(event)
