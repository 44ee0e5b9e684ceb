"""One Celery app factory for the services that run or send tasks (file, communication, ticket).

Broker on the broker role (Redis db 2); settings from `celery_config(service)` in the service's
settings; each service consumes only its own queue `hdms.<service>`.
"""

from __future__ import annotations

import os

from celery import Celery

from .startup import settings_module


def make_app(service: str) -> Celery:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module())
    app = Celery(f"{service}_service")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.autodiscover_tasks()
    return app


def queue(service: str) -> str:
    return f"hdms.{service}"


INGEST_EVENT_TASK = "hdms.communication.ingest_event"


def send_event(app: Celery, event: dict) -> None:
    """Hand one event to communication-service's queue; raises when the broker is unreachable."""
    app.send_task(INGEST_EVENT_TASK, args=[event], queue=queue("communication"), retry=False)
