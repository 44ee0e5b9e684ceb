import pytest
from django.db import IntegrityError

from apps.accounts.models import Session, User

pytestmark = pytest.mark.django_db


def test_create_user_normalises_email_and_hashes_password():
    user = User.objects.create_user("Alice@Example.COM", "a-long-password-1", roles=["customer"])
    user.refresh_from_db()
    assert user.email == "alice@example.com"
    assert user.password != "a-long-password-1" and user.check_password("a-long-password-1")
    assert user.roles == ["customer"] and user.settings == {} and user.provider == "local"


def test_email_is_unique():
    User.objects.create_user("dup@example.com", "x-long-password-1")
    with pytest.raises(IntegrityError):
        User.objects.create_user("DUP@example.com", "x-long-password-2")


def test_session_stores_only_a_hash():
    import hashlib
    from datetime import timedelta

    from django.utils import timezone

    user = User.objects.create_user("s@example.com", "x-long-password-1")
    token = "refresh-token-value"
    session = Session.objects.create(
        user=user, token_hash=hashlib.sha256(token.encode()).hexdigest(), expires_at=timezone.now() + timedelta(days=1)
    )
    stored = Session.objects.values_list("token_hash", flat=True).get(id=session.id)
    assert token not in stored and len(stored) == 64
