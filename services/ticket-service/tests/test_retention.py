"""Retention on ticket-service: what each purge deletes and keeps, in batches, one failure isolated."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from hdms_platform import audit
from hdms_platform.db import retention
from hdms_platform.models import AuditEntry, IdempotencyRecord
from hdms_platform.outbox.models import OutboxEvent, OutboxSequence
from hdms_platform.outbox.services import outbox_events_purge

pytestmark = pytest.mark.django_db


def _outbox(*, age_hours: float, published: bool) -> OutboxEvent:
    then = timezone.now() - timedelta(hours=age_hours)
    return OutboxEvent.objects.create(
        type="ticket.updated",
        ticket_id=uuid.uuid4(),
        payload={},
        created_at=then,
        published_at=then if published else None,
    )


def test_published_events_past_the_window_go_and_pending_ones_stay_however_old(settings):
    settings.OUTBOX_RETENTION_HOURS = 72
    old = [_outbox(age_hours=100, published=True) for _ in range(3)]
    recent = _outbox(age_hours=10, published=True)
    owed = _outbox(age_hours=500, published=False)  # never published: still owed to the consumers
    OutboxSequence.objects.update_or_create(source="ticket", defaults={"last_seq": 41})

    assert outbox_events_purge() == 3
    left = set(OutboxEvent.objects.values_list("id", flat=True))
    assert left == {recent.id, owed.id} and not left & {e.id for e in old}
    assert OutboxSequence.objects.get(source="ticket").last_seq == 41  # no number can come back


def test_a_purge_deletes_in_batches_of_the_configured_size(settings):
    settings.OUTBOX_RETENTION_HOURS = 1
    for _ in range(25):
        _outbox(age_hours=2, published=True)
    with CaptureQueriesContext(connection) as queries:
        deleted = retention.delete_in_batches(OutboxEvent.objects.filter(published_at__isnull=False), batch=10)
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert deleted == 25 and OutboxEvent.objects.count() == 0
    assert len(deletes) == 3  # 10 + 10 + 5, each its own short transaction


def test_expired_idempotency_keys_and_old_audit_entries_go(settings):
    settings.IDEMPOTENCY_KEY_HOURS = 24
    settings.AUDIT_RETENTION_DAYS = 30
    user = uuid.uuid4()
    IdempotencyRecord.objects.create(user_id=user, key="old", fingerprint="f")
    IdempotencyRecord.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
    IdempotencyRecord.objects.create(user_id=user, key="fresh", fingerprint="f")
    old_entry = AuditEntry.objects.create(
        occurred_at=timezone.now() - timedelta(days=31), action="ticket.created", outcome="success"
    )
    kept = audit.record("ticket.updated", target=("ticket", uuid.uuid4()))

    done = retention.run()

    assert done["idempotency_keys_purge"] == 1 and done["audit_entries_purge"] == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["fresh"]
    assert not AuditEntry.objects.filter(id=old_entry.id).exists() and AuditEntry.objects.filter(id=kept.id).exists()
    assert AuditEntry.objects.filter(action="audit.purged").count() == 1  # a purge that deleted is recorded
    retention.run()
    assert AuditEntry.objects.filter(action="audit.purged").count() == 1  # one that deleted nothing is not


def test_a_failing_purge_is_reported_and_the_others_still_run(settings):
    settings.OUTBOX_RETENTION_HOURS = 1
    settings.HDMS_RETENTION = ["hdms_platform.audit.no_such_purge", "hdms_platform.outbox.services.outbox_events_purge"]
    _outbox(age_hours=2, published=True)

    done = retention.run()

    assert done == {"no_such_purge": None, "outbox_events_purge": 1}
    assert OutboxEvent.objects.count() == 0
