"""WSGI/ASGI entry points that refuse to serve with an infrastructure mistake in the settings."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured

from hdms_platform.conf.env import settings_module

if TYPE_CHECKING:
    from django.core.handlers.asgi import ASGIHandler
    from django.core.handlers.wsgi import WSGIHandler


def _check() -> None:
    import django

    django.setup()
    from hdms_platform.conf.checks import TAG

    errors = [e for e in run_checks(tags=[TAG]) if e.is_serious() and not e.is_silenced()]
    if errors:
        raise ImproperlyConfigured("; ".join(f"{e.id}: {e.msg}" for e in errors))


def wsgi_application() -> WSGIHandler:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module())
    _check()
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def asgi_http_application() -> ASGIHandler:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module())
    _check()
    from django.core.asgi import get_asgi_application

    return get_asgi_application()
