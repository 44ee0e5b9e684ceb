"""Writes of the user-service: registration, sign-in, refresh rotation, sign-out, roles, settings."""

from __future__ import annotations

import dataclasses
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.hashers import make_password
from django.core import signing
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from hdms_platform import audit, errors
from hdms_platform.auth import ratelimit
from hdms_platform.auth.tokens import ROLES
from hdms_platform.db.retention import delete_in_batches

from .models import Session, User
from .tokens import access_token_for, new_refresh_token, refresh_token_hash

INVALID_CREDENTIALS = "The email or password is incorrect."
INVALID_REFRESH = "The refresh token is invalid, expired or revoked."


DEVICE_SALT = "hdms.accounts.login-device"


def _limit(name: str, hits: int) -> ratelimit.Limit:
    return ratelimit.Limit(name, hits, settings.LOGIN_RATE_WINDOW_SECONDS)


def device_token(user: User) -> str:
    """Handed out with every successful sign-in, sent back with the next ones (`device`): proof
    that this client signed in to this account before, which a guesser elsewhere cannot have.
    Signed with DJANGO_SECRET_KEY, valid LOGIN_DEVICE_DAYS."""
    return signing.dumps({"user": str(user.pk), "nonce": secrets.token_hex(8)}, salt=DEVICE_SALT, compress=True)


def _known_device(token: str, email: str) -> str | None:
    """The account id `token` was issued for, if it is valid and that account has this email."""
    if not token:
        return None
    try:
        claims = signing.loads(token, salt=DEVICE_SALT, max_age=timedelta(days=settings.LOGIN_DEVICE_DAYS))
    except signing.BadSignature:
        return None
    user_id = str(claims.get("user", "")) if isinstance(claims, dict) else ""
    return user_id if User.objects.filter(pk=user_id, email=email).exists() else None


def _login_limits(email: str, address: str, device: str) -> list[tuple[ratelimit.Limit, str]]:
    """Which limits an attempt counts against (the design and the attack it stops:
    docs/operations.md, "Sign-in limits").

    - per address, across accounts: one client guessing many accounts;
    - per account *from one address*: one client guessing one account — it locks out that client,
      not the account, so wrong passwords sent for a known email do not keep its owner out;
    - per account from every address, a generous ceiling: many addresses guessing one account;
    - from a known device (a valid `device` token of this account) only the device's own limit:
      the owner signs in while the account is under attack, and a stolen device token still gets
      no more than LOGIN_MAX_FAILURES_PER_ACCOUNT tries.
    """
    failures = settings.LOGIN_MAX_FAILURES_PER_ACCOUNT
    if _known_device(device, email):
        return [(_limit("login-device", failures), device)]
    return [
        (_limit("login-address", settings.LOGIN_MAX_ATTEMPTS_PER_ADDRESS), address),
        (_limit("login-pair", failures), f"{email} {address}"),
        (_limit("login-account", settings.LOGIN_MAX_ATTEMPTS_PER_ACCOUNT), email),
    ]


@dataclass(frozen=True)
class IssuedTokens:
    access: str
    refresh: str
    user: User
    session: Session
    device: str = ""  # a sign-in's proof of this client for the next ones (device_token)


def _normalise(email: str) -> str:
    return User.objects.normalize_email(email.strip()).lower()


def user_register(*, email: str, password: str) -> None:
    """Create a customer account. Returns nothing, on purpose.

    The answer is the same whether or not the address was already registered (no account
    enumeration), and so is the work: the password is hashed exactly once on both paths, before
    the insert is tried. An existing account is left untouched, and its password is not changed.
    """
    email = _normalise(email)
    try:
        password_validation.validate_password(password, user=User(email=email))
    except DjangoValidationError as exc:
        raise errors.Invalid({"password": list(exc.messages)}) from None
    user = User(email=email, roles=["customer"], password=make_password(password))
    try:
        with transaction.atomic():
            user.save(force_insert=True)
            audit.record("user.registered", actor_id=user.id, target=("user", user.id))
    except IntegrityError:  # already registered: the same answer, after the same hashing work
        existing = User.objects.filter(email=email).values_list("id", flat=True).first()
        audit.record("user.registered", target=("user", existing), outcome=audit.FAILURE, details={"reason": "exists"})


def _issue(user: User, *, family: uuid.UUID | None = None, user_agent: str = "") -> IssuedTokens:
    token = new_refresh_token()
    session = Session.objects.create(
        user=user,
        token_hash=refresh_token_hash(token),
        family=family or uuid.uuid4(),
        expires_at=timezone.now() + timedelta(seconds=settings.REFRESH_TOKEN_SECONDS),
        user_agent=user_agent[:300],
    )
    return IssuedTokens(access=access_token_for(user), refresh=token, user=user, session=session)


def user_login(*, email: str, password: str, address: str, user_agent: str = "", device: str = "") -> IssuedTokens:
    """Check the credentials under the sign-in limits (_login_limits; a success resets the
    account's). They apply to unknown emails too, and every refusal reads the same, so the
    answers never tell whether an email is registered.
    """
    email = _normalise(email)
    limits = _login_limits(email, address, device)
    # Count first, then decide: each attempt takes its number atomically before the password is
    # checked, so a parallel burst gets at most `hits` checks per account and address.
    for limit, subject in limits:
        if ratelimit.over(limit, subject):
            _audit_login(email, None, audit.DENIED, reason=f"limited ({limit.name})")
            raise errors.RateLimited("Too many sign-in attempts; try again later.", retry_after=limit.retry_after())
    user = User.objects.filter(email=email).first()
    if user is None:
        make_password(password)  # the same work as a real check, so timing does not tell either
        reason = "unknown email"
    elif not user.check_password(password):
        reason = "bad password"
    elif not user.is_active:
        reason = "inactive"
    else:
        reason = ""
    if reason or user is None:
        _audit_login(email, user, audit.FAILURE, reason=reason)
        raise errors.NotAuthenticated(INVALID_CREDENTIALS, code="invalid_credentials")
    for limit, subject in limits:
        if limit.name != "login-address":  # the address's count spans other accounts: it stays
            ratelimit.reset(limit, subject)
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(last_login=timezone.now())
        issued = _issue(user, user_agent=user_agent)
        _audit_login(email, user, audit.SUCCESS, session=str(issued.session.family))
        return dataclasses.replace(issued, device=device_token(user))


def _audit_login(email: str, user: User | None, outcome: str, **details) -> None:
    """Sign-ins, refused ones too; the email is kept only when no account has it (to spot guessing)."""
    extra = {} if user else {"email": email}
    audit.record(
        "auth.login",
        actor_id=user.pk if user else None,
        target=("user", user.pk if user else ""),
        outcome=outcome,
        details={**extra, **details},
    )


def _lock_family(family: uuid.UUID) -> None:
    """Serialise refresh and logout of one token family until the transaction ends.

    Without it a logout racing a refresh could miss the session the refresh was inserting (the
    logout's UPDATE does not see rows committed after it started) and leave a live token in a
    logged-out family. A transaction-level advisory lock is safe under PgBouncer's transaction
    pooling: it is released at COMMIT, on the same server connection.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"session-family:{family}"])


def _revoke_family(family: uuid.UUID) -> int:
    return Session.objects.filter(family=family, revoked_at__isnull=True).update(revoked_at=timezone.now())


def session_refresh(*, refresh_token: str, user_agent: str = "") -> IssuedTokens:
    """Rotate: the presented token is revoked and a new one of the same family issued.

    Presenting an already-rotated token means it was copied: the whole family is revoked, so
    both the thief and the victim must sign in again.
    """
    digest = refresh_token_hash(refresh_token)
    family = Session.objects.filter(token_hash=digest).values_list("family", flat=True).first()
    if family is None:
        raise errors.NotAuthenticated(INVALID_REFRESH, code="refresh_invalid")
    with transaction.atomic():
        _lock_family(family)
        session = Session.objects.select_for_update().select_related("user").get(token_hash=digest)
        if session.revoked_at is None:
            if session.expires_at <= timezone.now() or not session.user.is_active:
                raise errors.NotAuthenticated(INVALID_REFRESH, code="refresh_invalid")
            session.revoked_at = timezone.now()
            session.save(update_fields=["revoked_at"])
            return _issue(session.user, family=session.family, user_agent=user_agent)
        revoked = _revoke_family(session.family)
        audit.record(
            "auth.refresh_reused",
            actor_id=session.user_id,
            target=("session", session.family),
            outcome=audit.DENIED,
            details={"family_revoked": True, "sessions_revoked": revoked},
        )
    # raised after the commit, so the family's revocation stays
    raise errors.NotAuthenticated(INVALID_REFRESH, code="refresh_reused")


def session_logout(*, user_id: uuid.UUID, refresh_token: str) -> None:
    """Revoke the refresh token's whole family. Access tokens already issued expire on their own."""
    session = Session.objects.filter(token_hash=refresh_token_hash(refresh_token), user_id=user_id).first()
    if session is None:
        raise errors.Invalid({"refresh": ["Unknown refresh token for this user."]})
    with transaction.atomic():
        _lock_family(session.family)
        revoked = _revoke_family(session.family)
        audit.record("auth.logout", actor_id=user_id, target=("session", session.family), details={"sessions_revoked": revoked})


def user_update_settings(*, user: User, changes: dict) -> User:
    """Merge `changes` into the user's settings; a key set to null is removed."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        merged = {**user.settings, **changes}
        merged = {key: value for key, value in merged.items() if value is not None}
        size = len(json.dumps(merged))
        if size > settings.USER_SETTINGS_MAX_BYTES:  # the whole, not only this PATCH: many small ones add up
            raise errors.Invalid(
                {"settings": [f"The merged settings would be {size} bytes of JSON; at most {settings.USER_SETTINGS_MAX_BYTES}."]}
            )
        user.settings = merged
        user.save(update_fields=["settings"])
        audit.record("user.settings_changed", actor_id=user.pk, target=("user", user.pk), details={"keys": sorted(changes)})
    return user


def user_set_roles(*, user_id: uuid.UUID, roles: list[str], actor_id: uuid.UUID) -> User:
    """Replace a user's roles. New roles reach access tokens at the next login or refresh."""
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise errors.Invalid({"roles": [f"Unknown role(s): {', '.join(unknown)}; use {', '.join(ROLES)}."]})
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user_id).first()
        if user is None:
            raise errors.NotFound("No such user.")
        if user.pk == actor_id and "admin" not in roles:
            raise errors.Invalid({"roles": ["Admins cannot remove their own admin role."]})
        old_roles = list(user.roles)
        user.roles = sorted(set(roles), key=ROLES.index)
        user.save(update_fields=["roles"])
        audit.record(
            "user.roles_changed", actor_id=actor_id, target=("user", user.pk), details={"old": old_roles, "new": user.roles}
        )
    return user


def sessions_purge() -> int:
    """Sessions that ended more than SESSION_RETENTION_DAYS ago (a retention purge): expired ones,
    and revoked ones once their token has expired too. A revoked token that could still be
    presented keeps its row, which is what recognises its reuse and revokes the family."""
    now = timezone.now()
    cutoff = now - timedelta(days=settings.SESSION_RETENTION_DAYS)
    ended = Q(expires_at__lt=cutoff) | Q(revoked_at__lt=cutoff, expires_at__lt=now)
    return delete_in_batches(Session.objects.filter(ended))
