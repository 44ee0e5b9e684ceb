"""Access tokens that must be refused: wrong key, alg none, HS256 with the public key, expired, refresh-typed."""

import base64
import hmac
import json
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings

from hdms_platform.testing.tokens import make_access_token

pytestmark = pytest.mark.django_db


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _other_private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def _tampered_tokens(user_id: uuid.UUID) -> dict[str, str]:
    good = make_access_token(user_id=user_id)
    header, payload, signature = good.split(".")
    claims = jwt.decode(good, options={"verify_signature": False})
    return {
        "wrong key": make_access_token(user_id=user_id, key=_other_private_key()),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "hs256 with the public key": _b64({"alg": "HS256", "typ": "JWT"})
        + "."
        + payload
        + "."
        + base64.urlsafe_b64encode(
            hmac.new(
                settings.HDMS_JWT_PUBLIC_KEY.encode(), f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{payload}".encode(), "sha256"
            ).digest()
        )
        .rstrip(b"=")
        .decode(),
        "expired": make_access_token(user_id=user_id, expires_in=-60),
        "claims edited": f"{header}.{_b64({**claims, 'roles': ['admin']})}.{signature}",
        "not an access token": make_access_token(user_id=user_id, typ="refresh"),
        "wrong audience": make_access_token(user_id=user_id, aud="someone-else"),
        "garbage": "not.a.jwt",
    }


def test_tampered_tokens_are_refused(api, make_user):
    user = make_user("alice@example.com")
    good = make_access_token(user_id=user.id, email=user.email)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {good}")
    assert api.get("/api/v1/users/me/").status_code == 200  # the control: a genuine token works
    for name, token in _tampered_tokens(user.id).items():
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = api.get("/api/v1/users/me/")
        assert response.status_code == 401, name
        expected = "token_expired" if name == "expired" else "token_invalid"
        assert response.json()["error"]["code"] == expected, name
