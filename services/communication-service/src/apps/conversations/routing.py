from channels.security.websocket import OriginValidator
from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/tickets/<uuid:ticket_id>/", consumers.TicketConsumer.as_asgi()),
]


class BrowserOriginValidator(OriginValidator):
    """Channels' Origin allow-list, except that a handshake without an Origin header passes.

    The check protects browsers from cross-site WebSocket hijacking, and browsers always send
    Origin; other clients (apps, scripts, our tests) send none, and could forge any value anyway.
    A browser Origin not in WEBSOCKET_ALLOWED_ORIGINS is refused at the handshake (HTTP 403).
    """

    def valid_origin(self, parsed_origin):
        return parsed_origin is None or self.validate_origin(parsed_origin)
