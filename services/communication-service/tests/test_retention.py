"""Retention on communication-service: stored events older than the replay window go."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.conversations.models import TicketEvent
from hdms_platform.db import retention

from .factories import StoredEventFactory

pytestmark = pytest.mark.django_db


def _stored(age_seconds: float) -> TicketEvent:
    return StoredEventFactory(created_at=timezone.now() - timedelta(seconds=age_seconds))


def test_events_older_than_the_replay_window_go_and_newer_ones_stay(settings):
    settings.EVENT_REPLAY_SECONDS = 3600
    settings.RETENTION_BATCH_SIZE = 10
    old = [_stored(3700) for _ in range(12)]
    recent = _stored(3500)

    assert retention.run()["events_purge"] == 12
    assert list(TicketEvent.objects.values_list("id", flat=True)) == [recent.id]
    assert not TicketEvent.objects.filter(id__in=[e.id for e in old]).exists()
