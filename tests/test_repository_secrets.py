"""No secret or private key is committed: every tracked file is scanned."""

import re
import subprocess

from hdms_tools.stack import REPO

PATTERNS = {
    "private key": re.compile(rb"-----BEGIN (?:RSA |EC |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"),
    "AWS access key": re.compile(rb"\bAKIA[0-9A-Z]{16}\b"),
    "password in a URL": re.compile(rb"redis://:[^@\s$<{]{12,}@|postgres(?:ql)?://[^:\s]+:[^@\s$<{]{12,}@"),
}


def tracked_files() -> list[str]:
    return subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()


def test_no_env_file_or_key_file_is_tracked():
    files = tracked_files()
    assert not [f for f in files if f == ".env" or f.endswith(("/.env", ".pem")) or f.startswith(".keys/")]


def test_no_tracked_file_contains_a_secret():
    found = []
    for name in tracked_files():
        path = REPO / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        content = path.read_bytes()
        found += [f"{name}: {label}" for label, pattern in PATTERNS.items() if pattern.search(content)]
    assert found == []


def test_the_scan_would_catch_a_key():
    # built from pieces, so this file does not itself contain what it looks for
    assert PATTERNS["private key"].search(b"x\n-----BEGIN " + b"PRIVATE KEY-----\nMIIE")
    assert PATTERNS["password in a URL"].search(b"CELERY_BROKER_URL=redis://:" + b"s3cr3t-value-long" + b"@redis:6379/2")
