"""manage.py through PgBouncer: migrate forward, to zero and forward again, dbshell, check --deploy."""

import pytest

from tests.conftest import manage

OWN_APPS = {"user": "accounts", "ticket": "tickets", "communication": "conversations", "file": "attachments"}


@pytest.mark.parametrize("service", OWN_APPS)
def test_migrate_forward_zero_forward(service):
    apps = [OWN_APPS[service], "health"] + (["outbox"] if service in ("ticket", "file") else [])
    for app in apps:
        for target in (["zero"], []):
            result = manage(service, "migrate", app, *target, "--database", "migrations", "--noinput")
            assert result.returncode == 0, result.stderr[-2000:]
    plan = manage(service, "showmigrations", "--plan")
    assert "[ ]" not in plan.stdout


@pytest.mark.parametrize("service", OWN_APPS)
def test_dbshell_goes_through_pgbouncer(service, stack_env):
    result = manage(service, "dbshell", "--", "-At", "-c", "SELECT current_database() || ' ' || current_user")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"hdms_{service} hdms_{service}"
    port = manage(service, "dbshell", "--", "-At", "-c", "SHOW port")
    assert port.stdout.strip() != stack_env["PGBOUNCER_PORT"]  # the server behind PgBouncer is not on its port


@pytest.mark.parametrize("service", OWN_APPS)
def test_check_deploy_is_clean_with_production_settings(service):
    result = manage(service, "check", "--deploy", "--fail-level", "WARNING", extra_env={"HDMS_SETTINGS": "prod"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_start_up_refuses_a_placeholder_secret():
    result = manage("ticket", "check", extra_env={"DJANGO_SECRET_KEY": "change-me"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is still a placeholder" in result.stderr


def test_start_up_names_a_malformed_variable():
    result = manage("user", "check", extra_env={"PGBOUNCER_PORT": "not-a-port"})
    assert result.returncode != 0
    assert "PGBOUNCER_PORT must be an integer" in result.stderr


@pytest.mark.parametrize("service", ["user", "ticket", "file"])
def test_seed_dev_data_is_idempotent(service):
    first = manage(service, "seed_dev_data")
    assert first.returncode == 0, first.stderr
    second = manage(service, "seed_dev_data")
    assert second.returncode == 0, second.stderr
    assert "seed_dev_data: 0 created" in second.stdout


@pytest.mark.parametrize("service", ["user", "ticket", "file"])
def test_seed_dev_data_refuses_production_settings(service):
    result = manage(service, "seed_dev_data", extra_env={"HDMS_SETTINGS": "prod"})
    assert result.returncode != 0
    assert "refuses to run with production settings" in result.stderr
