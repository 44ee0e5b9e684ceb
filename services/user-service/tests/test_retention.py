"""Retention on user-service: ended sessions go; a revoked token that could still be presented stays."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import Session
from apps.accounts.services import sessions_purge
from hdms_platform.db import retention

pytestmark = pytest.mark.django_db


def test_sessions_ended_past_the_window_go_and_a_revoked_unexpired_one_stays(settings, make_user):
    settings.SESSION_RETENTION_DAYS = 30
    user = make_user()
    now = timezone.now()

    def session(name: str, *, expires_days: float, revoked_days: float | None = None) -> Session:
        revoked = None if revoked_days is None else now - timedelta(days=revoked_days)
        return Session.objects.create(
            user=user, token_hash=name.ljust(64, "0"), expires_at=now + timedelta(days=expires_days), revoked_at=revoked
        )

    gone = {
        session("expired-long-ago", expires_days=-31).id,
        session("revoked-long-ago-and-expired", expires_days=-1, revoked_days=40).id,
    }
    kept = {
        session("active", expires_days=10).id,
        session("expired-recently", expires_days=-29).id,
        session("revoked-recently", expires_days=-1, revoked_days=5).id,
        # its token still verifies: presenting it again must still revoke the family (reuse detection)
        session("revoked-long-ago-still-valid", expires_days=3, revoked_days=40).id,
    }

    assert sessions_purge() == 2
    assert set(Session.objects.values_list("id", flat=True)) == kept and user.sessions.filter(id__in=gone).count() == 0


def test_the_scheduled_run_includes_the_session_purge(settings, make_user):
    Session.objects.create(
        user=make_user(), token_hash="x" * 64, expires_at=timezone.now() - timedelta(days=settings.SESSION_RETENTION_DAYS + 1)
    )
    assert retention.run()["sessions_purge"] == 1 and Session.objects.count() == 0
