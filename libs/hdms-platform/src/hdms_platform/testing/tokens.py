"""Access tokens for tests, signed with the private key of the test stack (never a fake)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt

from hdms_platform.auth.tokens import ALGORITHM, AUDIENCE, ISSUER, private_key


def make_access_token(
    *,
    user_id: uuid.UUID | None = None,
    roles: tuple[str, ...] = ("customer",),
    email: str = "t@hdms.test",
    expires_in: int = 300,
    key: str | None = None,
    **overrides: Any,
) -> str:
    now = int(time.time())
    claims = {
        "sub": str(user_id or uuid.uuid4()),
        "email": email,
        "roles": list(roles),
        "typ": "access",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + expires_in,
        "jti": uuid.uuid4().hex,
        **overrides,
    }
    return jwt.encode(claims, key or private_key(), algorithm=ALGORITHM)
