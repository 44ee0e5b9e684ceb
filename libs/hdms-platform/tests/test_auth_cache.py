"""Verified access tokens are remembered per process until they expire (hdms_platform.auth.tokens), and
the answer is always the one a fresh verification would give."""

import tempfile
import time
import uuid
from pathlib import Path

import jwt
import pytest

from hdms_platform.auth import tokens as auth
from hdms_platform.auth.tokens import TokenUser, _VerifiedTokens, user_from_token
from hdms_platform.errors import NotAuthenticated
from hdms_platform.testing.tokens import make_access_token
from hdms_tools.envfile import ensure_keys


@pytest.fixture
def decodes(monkeypatch):
    """Counts real signature checks."""
    calls = []
    real = jwt.decode

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(auth.jwt, "decode", counting)
    monkeypatch.setattr(auth, "_verified", _VerifiedTokens())
    return calls


def test_a_token_is_verified_once_then_served_from_memory(decodes):
    token = make_access_token(user_id=uuid.uuid4(), roles=("agent",))
    first, second = user_from_token(token), user_from_token(token)
    assert first == second and first.roles == ("agent",)
    assert len(decodes) == 1


def test_a_token_that_fails_is_never_remembered(decodes):
    forged = make_access_token() + "x"
    for _ in range(2):
        with pytest.raises(NotAuthenticated):
            user_from_token(forged)
    assert len(decodes) == 2


def test_a_remembered_token_past_its_expiry_is_verified_again_and_refused(decodes):
    token = "a.not.verifiable"
    expired = TokenUser(id=uuid.uuid4(), email="", roles=("admin",), token=token, expires_at=time.time() - 10)
    auth._verified.put(_VerifiedTokens.key(token), expired)
    with pytest.raises(NotAuthenticated):
        user_from_token(token)  # not answered from memory: the real check refuses it
    assert len(decodes) == 1


def test_another_public_key_does_not_reuse_what_the_old_one_verified(decodes, settings):
    token = make_access_token()
    user_from_token(token)
    folder = Path(tempfile.mkdtemp())
    ensure_keys(folder / "private.pem", folder / "public.pem")
    settings.HDMS_JWT_PUBLIC_KEY = (folder / "public.pem").read_text()  # a rotated key
    with pytest.raises(NotAuthenticated):
        user_from_token(token)


def test_memory_is_bounded_least_recently_used_out():
    cache = _VerifiedTokens(size=2)
    users = {name: TokenUser(id=uuid.uuid4(), email=name, expires_at=time.time() + 60) for name in "abc"}
    cache.put(b"a", users["a"])
    cache.put(b"b", users["b"])
    assert cache.get(b"a") == users["a"]  # a is now the most recent
    cache.put(b"c", users["c"])
    assert cache.get(b"b") is None and cache.get(b"a") == users["a"] and cache.get(b"c") == users["c"]
