"""The README's quickstart, executed as written, against a throwaway stack on free ports."""

import re
import subprocess

from hdms_tools.privatestack import PrivateStack
from hdms_tools.stack import REPO


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
    # A private stack's folder, ports and keys; the README's own commands start and stop it.
    readme = PrivateStack("hdms-readme-")
    env = readme.environ(HDMS_SETTINGS="dev")
    try:
        for command in commands:
            result = subprocess.run(command, shell=True, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
            assert result.returncode == 0, f"{command}: {result.stdout[-1500:]} {result.stderr[-1500:]}"
            if command == "make verify":
                assert "15 passed, 0 failed" in result.stdout
    finally:
        subprocess.run("make down-purge", shell=True, cwd=REPO, env=env, capture_output=True, timeout=120)
        readme.stop()
