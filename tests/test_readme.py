"""The README's quickstart, executed as written, against a throwaway stack on free ports."""

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from hdms_platform.stack import REPO, read_env_file
from hdms_platform.testrun import free_ports
from tests.conftest import write_env


def quickstart_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    block = re.search(r"## Quickstart\s+```bash\n(.*?)```", readme, re.S).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]


def test_first_screen_shows_the_two_commands():
    first_block = re.search(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S).group(1)
    assert [line.split("#")[0].strip() for line in first_block.splitlines()] == ["make up", "make test"]


def test_quickstart_runs_as_written():
    commands = quickstart_commands()
    assert commands == ["make env", "make up", "make verify", "make down"]
    root = Path(tempfile.mkdtemp(prefix="hdms-readme-", dir="/tmp"))
    root.chmod(0o755)
    pgb, rds, gw, *ports = free_ports(7)
    keys = read_env_file(Path(os.environ["HDMS_ENV_FILE"]))  # the private stack's key pair, not the repo's
    env_file = write_env(
        root / "env",
        {
            "HDMS_DATA_DIR": str(root / "data"),
            "HDMS_STACK_MODE": "native",
            "PGBOUNCER_PORT": str(pgb),
            "REDIS_PORT": str(rds),
            "GATEWAY_PORT": str(gw),
            "JWT_PRIVATE_KEY_FILE": keys["JWT_PRIVATE_KEY_FILE"],
            "JWT_PUBLIC_KEY_FILE": keys["JWT_PUBLIC_KEY_FILE"],
            "FILE_STORAGE_DIR": str(root / "media"),
            **{f"{s}_SERVICE_PORT": str(p) for s, p in zip(("USER", "TICKET", "COMMUNICATION", "FILE"), ports, strict=True)},
        },
    )
    env = {**os.environ, "HDMS_ENV_FILE": str(env_file), "HDMS_SETTINGS": "dev"}
    try:
        for command in commands:
            result = subprocess.run(command, shell=True, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
            assert result.returncode == 0, f"{command}: {result.stdout[-1500:]} {result.stderr[-1500:]}"
            if command == "make verify":
                assert "15 passed, 0 failed" in result.stdout
    finally:
        subprocess.run("make down-purge", shell=True, cwd=REPO, env=env, capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)
