"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import os

from hdms_platform.conf.env import settings_module

os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module())

from hdms_platform.web.startup import asgi_http_application

http_application = asgi_http_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from apps.conversations.routing import BrowserOriginValidator, websocket_urlpatterns  # noqa: E402
from hdms_platform.observability.logging import WebSocketRequestId  # noqa: E402
from hdms_platform.observability.middleware import WebSocketMetrics  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": http_application,
        "websocket": WebSocketRequestId(
            WebSocketMetrics(BrowserOriginValidator(URLRouter(websocket_urlpatterns), settings.WEBSOCKET_ALLOWED_ORIGINS))
        ),
    }
)
