"""The launcher's configuration (the env file and the environment), its errors and exit codes.

Standard library only, like the whole of hdms_tools.stack: it runs on a fresh machine before any
virtualenv exists.

Exit codes (also used by the shell wrappers):
  0 ok · 2 configuration · 3 missing binary · 4 port taken · 5 data directory · 6 server did not
  start · 7 authentication
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from hdms_platform.conf.catalogue import SERVICES as SERVICES  # imports nothing itself; re-exported for the launcher
from hdms_platform.conf.catalogue import default_port, port_variable

REPO = Path(__file__).resolve().parents[5]  # libs/hdms-tools/src/hdms_tools/stack/config.py
# Both packages' sources, for a python that has not installed them (the system python3 before .venv exists).
PYTHONPATH = os.pathsep.join(str(REPO / "libs" / package / "src") for package in ("hdms-platform", "hdms-tools"))
MARKER = ".hdms-stack"
RUN_AS_DEFAULT = "hdms"

EXIT_CONFIG, EXIT_BINARY, EXIT_PORT, EXIT_DATADIR, EXIT_START, EXIT_AUTH = 2, 3, 4, 5, 6, 7


class StackError(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def cli(main) -> None:
    """Run a tool's `main` as a command (`if __name__ == "__main__": cli(main)`): a StackError is
    one line on stderr, naming what to fix, and its exit code; anything else keeps its traceback."""
    try:
        code = main()
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = exc.code
    sys.exit(code)


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


@dataclass
class Config:
    env: dict[str, str]
    env_file: Path

    @classmethod
    def load(cls) -> Config:
        env_file = Path(os.environ.get("HDMS_ENV_FILE") or REPO / ".env")
        env = read_env_file(env_file)
        env.update(os.environ)
        return cls(env=env, env_file=env_file)

    def get(self, name: str, default: str | None = None) -> str:
        value = self.env.get(name, "")
        if value == "":
            if default is None:
                raise StackError(
                    f"{name} is not set: add it to {self.env_file} (see .env.example; "
                    f"`make env` writes a .env with fresh secrets)",
                    EXIT_CONFIG,
                )
            return default
        return value

    def port(self, name: str, default: int) -> int:
        raw = self.get(name, str(default))
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            raise StackError(f"{name} must be a TCP port number (1-65535), got {raw!r}", EXIT_CONFIG)
        return int(raw)

    def service_port(self, service: str) -> int:
        return self.port(port_variable(service), default_port(service))

    @property
    def data_dir(self) -> Path:
        path = Path(self.get("HDMS_DATA_DIR", str(REPO / ".devstack")))
        return path if path.is_absolute() else REPO / path

    @property
    def media_dir(self) -> Path:
        """Where file-service stores attachments (FILE_STORAGE_DIR; its settings' default)."""
        return Path(self.get("FILE_STORAGE_DIR", "") or REPO / "media")
