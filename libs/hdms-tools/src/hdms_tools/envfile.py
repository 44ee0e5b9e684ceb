"""Write `.env` from `.env.example`, replacing every `change-me` with a fresh random secret.

Standard library only. Never overwrites an existing file.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

PLACEHOLDER = "change-me"


def render(example: str, overrides: dict[str, str] | None = None) -> str:
    overrides = dict(overrides or {})
    lines = []
    for line in example.splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            if key in overrides:
                value = overrides.pop(key)
            elif value == PLACEHOLDER:
                value = secrets.token_urlsafe(48 if key == "DJANGO_SECRET_KEY" else 24)
            line = f"{key}={value}"
        lines.append(line)
    lines.extend(f"{key}={value}" for key, value in overrides.items())
    return "\n".join(lines) + "\n"


APP_GID = 10001  # the app image's hdms group (Dockerfile)


def share_with_containers(private: Path) -> None:
    """The private key 0640, its group the app image's (as root) or the user's own: compose mounts
    the file as it is (it ignores a file secret's uid/gid/mode), and user-service runs as uid 10001
    with that group added (HDMS_KEYS_GID, default 10001). Nobody else on the host may read it."""
    if os.geteuid() == 0:
        os.chown(private, -1, APP_GID)
    private.chmod(0o640)


def ensure_keys(private: Path, public: Path) -> bool:
    """An RS256 key pair for access tokens, made with openssl; False when both already exist."""
    if private.exists() and public.exists():
        share_with_containers(private)
        return False
    private.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(private)],
        check=True,
        capture_output=True,
    )
    share_with_containers(private)
    subprocess.run(["openssl", "pkey", "-in", str(private), "-pubout", "-out", str(public)], check=True, capture_output=True)
    return True


def add_missing(target: Path, example: str) -> list[str]:
    """Append the variables `example` has and `target` lacks (fresh secrets for placeholders), so
    an older .env keeps working after an upgrade; nothing already set is touched."""
    present = {line.partition("=")[0].strip() for line in target.read_text().splitlines() if "=" in line}
    rendered = [line for line in render(example).splitlines() if "=" in line and not line.lstrip().startswith("#")]
    missing = [line for line in rendered if line.partition("=")[0] not in present]
    if missing:
        with target.open("a") as out:
            out.write("\n# added by `make env` (variables of a newer version; see .env.example)\n")
            out.write("".join(f"{line}\n" for line in missing))
    return [line.partition("=")[0] for line in missing]


def main(argv: list[str]) -> int:
    repo = Path(__file__).resolve().parents[4]
    target = Path(argv[0] if argv else os.environ.get("HDMS_ENV_FILE") or repo / ".env")
    if target.exists():
        added = add_missing(target, (repo / ".env.example").read_text())
        if added:
            print(f"{target} exists; added what this version needs and it lacked: {', '.join(added)}")
        else:
            print(f"{target} exists; leaving it as it is")
    else:
        target.write_text(render((repo / ".env.example").read_text()))
        target.chmod(0o600)
        print(f"wrote {target} with fresh secrets")
    if ensure_keys(repo / ".keys" / "jwt-private.pem", repo / ".keys" / "jwt-public.pem"):
        print(f"generated the access-token key pair in {repo / '.keys'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
