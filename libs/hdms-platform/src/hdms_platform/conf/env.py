"""Typed environment reading on python-decouple.

Precedence: process environment, then the env file: HDMS_ENV_FILE, else the nearest `.env` from
the working directory up (the search python-decouple's AutoConfig does). The library does not know
where a repository is: the launcher (hdms_tools) names the file its programs read.
A missing or malformed variable raises ImproperlyConfigured naming it and what it expects.
"""

from __future__ import annotations

import builtins
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from decouple import Config, RepositoryEmpty, RepositoryEnv
from django.core.exceptions import ImproperlyConfigured

PLACEHOLDERS = {"change-me", "changeme", "secret", "password", "insecure", "django-insecure"}


class _Required:
    def __repr__(self) -> str:
        return "<required>"


REQUIRED = _Required()


def env_file() -> Path | None:
    """HDMS_ENV_FILE, else the nearest `.env` from the working directory up; None when there is none."""
    named = os.environ.get("HDMS_ENV_FILE")
    if named:
        if not os.path.isfile(named):
            raise ImproperlyConfigured(f"HDMS_ENV_FILE points at {named}, which does not exist")
        return Path(named).resolve()
    here = Path.cwd()
    return next((folder / ".env" for folder in (here, *here.parents) if (folder / ".env").is_file()), None)


class Env:
    def __init__(self, config: Config | None = None, *, base_dir: Path | None = None):
        """`base_dir` is where a relative path a variable names (JWT_PUBLIC_KEY_FILE=...) starts from:
        the env file's folder, or the working directory when the values come from elsewhere."""
        if config is None:
            found = env_file()
            config = Config(RepositoryEnv(str(found)) if found else RepositoryEmpty())
            base_dir = base_dir or (found.parent if found else None)
        self._config = config
        self.base_dir = base_dir or Path.cwd()

    def path(self, name: str, default: Any = REQUIRED) -> Path:
        """A file or folder path; a relative one starts from `base_dir`."""
        value = Path(self.str(name, default))
        return value if value.is_absolute() else self.base_dir / value

    def _raw(self, name: str, default: Any, expects: str) -> str | None:
        value = builtins.str(self._config.get(name, default=""))
        if value == "":
            if default is REQUIRED:
                raise ImproperlyConfigured(f"{name} is required ({expects}); set it in the environment or .env")
            return None
        return value

    def str(self, name: str, default: Any = REQUIRED) -> str:
        value = self._raw(name, default, "a string")
        return builtins.str(default) if value is None else value

    def int(
        self,
        name: builtins.str,
        default: Any = REQUIRED,
        *,
        min_value: builtins.int | None = None,
        max_value: builtins.int | None = None,
    ) -> builtins.int:
        expects = (
            "an integer"
            + (f" >= {min_value}" if min_value is not None else "")
            + (f" <= {max_value}" if max_value is not None else "")
        )
        value = self._raw(name, default, expects)
        if value is None:
            return builtins.int(default)
        try:
            number = int(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be {expects}, got {value!r}") from None
        if (min_value is not None and number < min_value) or (max_value is not None and number > max_value):
            raise ImproperlyConfigured(f"{name} must be {expects}, got {number}")
        return number

    def float(
        self,
        name: builtins.str,
        default: Any = REQUIRED,
        *,
        min_value: builtins.float | None = None,
        max_value: builtins.float | None = None,
    ) -> builtins.float:
        expects = (
            "a number"
            + (f" >= {min_value:g}" if min_value is not None else "")
            + (f" <= {max_value:g}" if max_value is not None else "")
        )
        value = self._raw(name, default, expects)
        if value is None:
            return builtins.float(default)
        try:
            number = float(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be {expects}, got {value!r}") from None
        if (min_value is not None and not number >= min_value) or (max_value is not None and not number <= max_value):
            raise ImproperlyConfigured(f"{name} must be {expects}, got {value}")
        return number

    def port(self, name: builtins.str, default: Any = REQUIRED) -> builtins.int:
        return self.int(name, default, min_value=1, max_value=65535)

    def bool(self, name: builtins.str, default: Any = REQUIRED) -> builtins.bool:
        value = self._raw(name, default, "true or false")
        if value is None:
            return builtins.bool(default)
        lowered = value.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ImproperlyConfigured(f"{name} must be true or false, got {value!r}")

    def list(self, name: builtins.str, default: Any = REQUIRED) -> builtins.list[builtins.str]:
        value = self._raw(name, default, "a comma-separated list")
        if value is None:
            return list(default)
        return [item.strip() for item in value.split(",") if item.strip()]

    def choice(self, name: builtins.str, choices: tuple[builtins.str, ...], default: Any = REQUIRED) -> builtins.str:
        value = self._raw(name, default, f"one of {', '.join(choices)}")
        if value is None:
            return builtins.str(default)
        if value not in choices:
            raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def secret(self, name: builtins.str, *, min_length: builtins.int = 16) -> builtins.str:
        """A required secret: never defaulted, never a placeholder, never short; never echoed back."""
        value = self._raw(name, REQUIRED, f"a secret of at least {min_length} characters")
        assert value is not None  # a required variable is never None (_raw raises instead)
        if value.lower() in PLACEHOLDERS or value.lower().startswith("change"):
            raise ImproperlyConfigured(f"{name} is still a placeholder; `make env` writes fresh secrets")
        if len(value) < min_length:
            raise ImproperlyConfigured(f"{name} must be at least {min_length} characters long (it has {len(value)})")
        return value

    def redis_url(self, name: builtins.str, default: builtins.str) -> builtins.str:
        value = self._raw(name, default, "a redis:// or rediss:// URL")
        url = default if value is None else value
        parsed = urlparse(url)
        if parsed.scheme not in {"redis", "rediss"} or not parsed.hostname:
            raise ImproperlyConfigured(f"{name} must be a redis:// or rediss:// URL with a host, got {parsed.scheme or url!r}")
        return url


env = Env()


def settings_module() -> str:
    # Required, no default: a forgotten variable must stop start-up, not mean DEBUG on a server.
    return f"core.settings.{env.choice('HDMS_SETTINGS', ('dev', 'test', 'prod', 'bench'))}"
