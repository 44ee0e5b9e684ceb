from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/tickets/<uuid:ticket_id>/", consumers.TicketConsumer.as_asgi()),
]
