"""What a service's prod.py changes, each named here: HTTPS everywhere, secure cookies, JSON logs.
Passes `manage.py check --deploy`. prod.py star-imports this module after base.py."""

from __future__ import annotations

from hdms_platform.conf.builders import logging_config
from hdms_platform.conf.env import env

DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^health/"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 31536000, min_value=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
LOGGING = logging_config(json=True)
