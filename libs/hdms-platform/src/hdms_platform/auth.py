"""Access tokens: RS256 JWTs signed by user-service, verified locally by every service.

No call to user-service per request: each service holds the public key (JWT_PUBLIC_KEY or
JWT_PUBLIC_KEY_FILE). Only RS256 is accepted, so `alg: none` and HS256-with-the-public-key
forgeries fail.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import jwt
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from rest_framework import authentication, exceptions, permissions

from .env import REPO, Env
from .env import env as default_env

ALGORITHM = "RS256"
ISSUER = "hdms-user-service"
AUDIENCE = "hdms"
ROLES = ("customer", "agent", "admin")


def _key(env: Env, name: str) -> str:
    inline = env.str(name, "")
    if inline:
        return inline.replace("\\n", "\n")
    path_value = env.str(f"{name}_FILE", "")
    if not path_value:
        raise ImproperlyConfigured(f"{name} or {name}_FILE is required (a PEM key, or a path to one)")
    path = Path(path_value) if Path(path_value).is_absolute() else REPO / path_value
    try:
        return path.read_text()
    except OSError as exc:
        raise ImproperlyConfigured(f"{name}_FILE={path_value} cannot be read: {exc.strerror}") from None


def public_key(env: Env = default_env) -> str:
    return _key(env, "JWT_PUBLIC_KEY")


def private_key(env: Env = default_env) -> str:
    return _key(env, "JWT_PRIVATE_KEY")


@dataclass(frozen=True)
class TokenUser:
    """The caller, as the access token describes it. Services never load another's user table."""

    id: uuid.UUID
    email: str
    roles: tuple[str, ...] = field(default_factory=tuple)
    token: str = ""
    expires_at: float = 0.0  # the token's `exp` (Unix time); long-lived sockets close then

    is_authenticated = True
    is_anonymous = False

    @property
    def pk(self) -> uuid.UUID:
        return self.id

    @property
    def is_staff_member(self) -> bool:
        """Agents and admins see every ticket; customers only their own."""
        return "agent" in self.roles or "admin" in self.roles

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


@lru_cache(maxsize=4)
def _loaded_public_key(pem: str):
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    return load_pem_public_key(pem.encode())


def decode_access_token(token: str) -> dict:
    try:
        claims = jwt.decode(
            token,
            _loaded_public_key(settings.HDMS_JWT_PUBLIC_KEY),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=5,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise exceptions.AuthenticationFailed("The access token has expired.", code="token_expired") from None
    except jwt.PyJWTError:
        raise exceptions.AuthenticationFailed("The access token is invalid.", code="token_invalid") from None
    if claims.get("typ") != "access":
        raise exceptions.AuthenticationFailed("Not an access token.", code="token_invalid")
    return claims


def user_from_token(token: str) -> TokenUser:
    claims = decode_access_token(token)
    try:
        user_id = uuid.UUID(claims["sub"])
    except (ValueError, TypeError):
        raise exceptions.AuthenticationFailed("The access token is invalid.", code="token_invalid") from None
    roles = tuple(r for r in claims.get("roles", []) if r in ROLES)
    return TokenUser(id=user_id, email=str(claims.get("email", "")), roles=roles, token=token, expires_at=float(claims["exp"]))


class AccessTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme != self.keyword or not token.strip():
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <access token>'.", code="token_invalid")
        user = user_from_token(token.strip())
        return user, token.strip()

    def authenticate_header(self, request):
        return f'{self.keyword} realm="hdms"'


class IsStaffMember(permissions.BasePermission):
    """Agents and admins."""

    message = "Only agents and admins may do this."

    def has_permission(self, request, view) -> bool:
        return bool(getattr(request.user, "is_staff_member", False))


class IsAdmin(permissions.BasePermission):
    message = "Only admins may do this."

    def has_permission(self, request, view) -> bool:
        return bool(getattr(request.user, "is_admin", False))
