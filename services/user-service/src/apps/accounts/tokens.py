"""Token minting — the only place that holds the private key.

Access tokens: RS256 JWTs, short-lived, verified by every service with the public key
(`hdms_platform.auth.tokens`). Refresh tokens: 256 random bits, opaque; only their SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from functools import lru_cache

import jwt
from django.conf import settings

from hdms_platform.auth.tokens import ALGORITHM, AUDIENCE, ISSUER


@lru_cache(maxsize=2)
def _signing_key(pem: str):
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    return load_pem_private_key(pem.encode(), password=None)


def access_token_for(user) -> str:
    now = int(time.time())
    claims = {
        "sub": str(user.id),
        "email": user.email,
        "roles": list(user.roles),
        "typ": "access",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + settings.ACCESS_TOKEN_SECONDS,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, _signing_key(settings.HDMS_JWT_PRIVATE_KEY), algorithm=ALGORITHM)


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def refresh_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
