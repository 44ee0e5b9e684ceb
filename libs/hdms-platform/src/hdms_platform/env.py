"""Typed environment reading on python-decouple.

Precedence: process environment, then the env file (HDMS_ENV_FILE, else the repository's .env).
A missing or malformed variable raises ImproperlyConfigured naming it and what it expects.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

from decouple import Config, RepositoryEmpty, RepositoryEnv
from django.core.exceptions import ImproperlyConfigured

REPO = Path(__file__).resolve().parents[4]
PLACEHOLDERS = {"change-me", "changeme", "secret", "password", "insecure", "django-insecure"}


class _Required:
    def __repr__(self) -> str:
        return "<required>"


REQUIRED = _Required()


def _source() -> Config:
    path = os.environ.get("HDMS_ENV_FILE") or str(REPO / ".env")
    if os.path.isfile(path):
        return Config(RepositoryEnv(path))
    if os.environ.get("HDMS_ENV_FILE"):
        raise ImproperlyConfigured(f"HDMS_ENV_FILE points at {path}, which does not exist")
    return Config(RepositoryEmpty())


class Env:
    def __init__(self, config: Config | None = None):
        self._config = config or _source()

    def _raw(self, name: str, default, expects: str) -> str | None:
        value = self._config.get(name, default="")
        if value == "":
            if default is REQUIRED:
                raise ImproperlyConfigured(f"{name} is required ({expects}); set it in the environment or .env")
            return None
        return value

    def str(self, name: str, default=REQUIRED) -> str:
        value = self._raw(name, default, "a string")
        return default if value is None else value

    def int(self, name: str, default=REQUIRED, *, min_value: int | None = None, max_value: int | None = None) -> int:
        expects = (
            "an integer"
            + (f" >= {min_value}" if min_value is not None else "")
            + (f" <= {max_value}" if max_value is not None else "")
        )
        value = self._raw(name, default, expects)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be {expects}, got {value!r}") from None
        if (min_value is not None and number < min_value) or (max_value is not None and number > max_value):
            raise ImproperlyConfigured(f"{name} must be {expects}, got {number}")
        return number

    def float(self, name: str, default=REQUIRED, *, min_value: float | None = None, max_value: float | None = None) -> float:
        expects = (
            "a number"
            + (f" >= {min_value:g}" if min_value is not None else "")
            + (f" <= {max_value:g}" if max_value is not None else "")
        )
        value = self._raw(name, default, expects)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be {expects}, got {value!r}") from None
        if (min_value is not None and not number >= min_value) or (max_value is not None and not number <= max_value):
            raise ImproperlyConfigured(f"{name} must be {expects}, got {value}")
        return number

    def port(self, name: str, default=REQUIRED) -> int:
        return self.int(name, default, min_value=1, max_value=65535)

    def bool(self, name: str, default=REQUIRED) -> bool:
        value = self._raw(name, default, "true or false")
        if value is None:
            return default
        lowered = value.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ImproperlyConfigured(f"{name} must be true or false, got {value!r}")

    def list(self, name: str, default=REQUIRED) -> list[str]:
        value = self._raw(name, default, "a comma-separated list")
        if value is None:
            return list(default)
        return [item.strip() for item in value.split(",") if item.strip()]

    def choice(self, name: str, choices: tuple[str, ...], default=REQUIRED) -> str:
        value = self._raw(name, default, f"one of {', '.join(choices)}")
        if value is None:
            return default
        if value not in choices:
            raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def secret(self, name: str, *, min_length: int = 16) -> str:
        """A required secret: never defaulted, never a placeholder, never short; never echoed back."""
        value = self._raw(name, REQUIRED, f"a secret of at least {min_length} characters")
        if value.lower() in PLACEHOLDERS or value.lower().startswith("change"):
            raise ImproperlyConfigured(f"{name} is still a placeholder; `make env` writes fresh secrets")
        if len(value) < min_length:
            raise ImproperlyConfigured(f"{name} must be at least {min_length} characters long (it has {len(value)})")
        return value

    def redis_url(self, name: str, default: str) -> str:
        value = self._raw(name, default, "a redis:// or rediss:// URL")
        url = default if value is None else value
        parsed = urlparse(url)
        if parsed.scheme not in {"redis", "rediss"} or not parsed.hostname:
            raise ImproperlyConfigured(f"{name} must be a redis:// or rediss:// URL with a host, got {parsed.scheme or url!r}")
        return url


env = Env()
