"""The body of every service's manage.py."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(manage_file: str) -> None:
    sys.path.insert(0, str(Path(manage_file).resolve().parent / "src"))
    from hdms_platform.conf.env import settings_module

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module())
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
