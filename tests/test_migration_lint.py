"""Migrations stay safe for rolling deploys: `manage.py lintmigrations` (django-migration-linter,
run for every service by `make test`) refuses a migration the previous release's code could not
run against, and accepts one marked as an intended exception with IgnoreMigration.

The probes are real migrations on ticket-service's `tickets` app, linted by the real command: a
copy of the app's migrations plus the probe, in a temporary package (MIGRATION_MODULES), so the
repository's tree is never touched."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from hdms_tools.stack import REPO

from .conftest import PY

SERVICE = REPO / "services" / "ticket-service"
PROBES = {
    # the old code still selects the column
    "drop_column": ('migrations.RemoveField(model_name="ticket", name="subject")', "DROPPING COLUMNS"),
    # the old code inserts rows without it
    "not_null_column": (
        'migrations.AddField(model_name="ticket", name="probe", field=models.IntegerField(default=0), preserve_default=False)',
        "NOT NULL",
    ),
    # the old code uses the old name
    "rename_column": ('migrations.RenameField(model_name="ticket", old_name="subject", new_name="title")', "RENAMING"),
}
SAFE = 'migrations.AddField(model_name="ticket", name="probe", field=models.IntegerField(null=True))'


def _lint(tmp_dir, operation: str, *, ignored: bool = False) -> subprocess.CompletedProcess:
    package = tmp_dir / "probe_migrations"
    shutil.rmtree(package, ignore_errors=True)
    shutil.copytree(SERVICE / "src" / "apps" / "tickets" / "migrations", package, ignore=shutil.ignore_patterns("__pycache__"))
    marker = "IgnoreMigration(), " if ignored else ""
    (package / "0002_probe.py").write_text(
        "from django.db import migrations, models\n"
        "from django_migration_linter import IgnoreMigration\n\n\n"
        "class Migration(migrations.Migration):\n"
        '    dependencies = [("tickets", "0001_initial")]\n'
        f"    operations = [{marker}{operation}]\n"
    )
    (tmp_dir / "probe_settings.py").write_text(
        'from core.settings.test import *  # noqa: F403\n\nMIGRATION_MODULES = {"tickets": "probe_migrations"}\n'
    )
    env = {
        **os.environ,
        "PYTHONPATH": f"{tmp_dir}:{os.environ.get('PYTHONPATH', '')}",
        "DJANGO_SETTINGS_MODULE": "probe_settings",
    }
    return subprocess.run(
        [PY, "manage.py", "lintmigrations", "tickets", "0002_probe"],
        cwd=SERVICE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_a_migration_that_breaks_the_previous_release_is_refused(stack_env, tmp_dir, probe):
    operation, reason = PROBES[probe]
    result = _lint(tmp_dir, operation)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "0002_probe)... ERR" in result.stdout and reason in result.stdout.upper(), result.stdout


def test_a_marked_exception_and_a_safe_migration_pass(stack_env, tmp_dir):
    marked = _lint(tmp_dir, PROBES["drop_column"][0], ignored=True)
    assert marked.returncode == 0 and "IGNORE" in marked.stdout.upper(), marked.stdout + marked.stderr
    safe = _lint(tmp_dir, SAFE)
    assert safe.returncode == 0 and "0002_probe)... OK" in safe.stdout, safe.stdout + safe.stderr
