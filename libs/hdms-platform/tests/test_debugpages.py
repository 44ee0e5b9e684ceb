"""Django's technical error pages: no secret in them, and no page at all for a remote caller."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.views.debug import SafeExceptionReporterFilter

from hdms_platform.web.debugpages import SecretFilter, mask


def secret_values() -> list[str]:
    """Every secret the process was given, in its environment or its env file (HDMS_ENV_FILE, as
    `make test` hands them): passwords and the Django secret."""
    given = dict(os.environ)
    if os.environ.get("HDMS_ENV_FILE"):
        for line in Path(os.environ["HDMS_ENV_FILE"]).read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and not name.startswith("#"):
                given.setdefault(name.strip(), value.strip().strip("'\""))
    values = [v for n, v in given.items() if any(part in n for part in ("PASSWORD", "SECRET")) and len(v) >= 8]
    assert values, "the test stack gives this process secrets"
    return values


def test_every_setting_is_free_of_secrets_once_filtered():
    shown = repr(SecretFilter().get_safe_settings())
    assert [v for v in secret_values() if v in shown] == []


def test_djangos_own_filter_shows_the_redis_passwords_inside_urls():
    """Why the filter exists: by name alone, a URL-valued setting keeps its password."""
    shown = repr(SafeExceptionReporterFilter().get_safe_settings())
    assert any(v in shown for v in secret_values())


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("redis://hdms-cache:s3cret@redis:6379/0", "redis://hdms-cache:********@redis:6379/0"),
        ("rediss://:s3cret@host/2", "rediss://:********@host/2"),
        ("postgres://u:p%40ss@h/db?sslmode=require", "postgres://u:********@h/db?sslmode=require"),
        ("https://example.com/x?token=abc&y=1", "https://example.com/x?token=********&y=1"),
        ("redis://redis:6379/0", "redis://redis:6379/0"),
    ],
)
def test_mask(raw, masked):
    assert mask(raw) == masked


@override_settings(DEBUG=True)
def test_a_bad_host_gets_no_technical_page_from_afar():
    body = Client(REMOTE_ADDR="203.0.113.9").get("/health/live", HTTP_HOST="evil.example").content.decode()
    assert "Traceback" not in body and "DisallowedHost" not in body and "CELERY_BROKER_URL" not in body
    assert [v for v in secret_values() if v in body] == []


@override_settings(DEBUG=True)
def test_through_a_proxy_from_loopback_is_afar_too():
    body = (
        Client(REMOTE_ADDR="127.0.0.1").get("/health/live", HTTP_HOST="evil.example", HTTP_X_FORWARDED_FOR="198.51.100.7").content
    )
    assert b"DisallowedHost" not in body and b"CELERY_BROKER_URL" not in body


@override_settings(DEBUG=True)
def test_a_direct_local_caller_gets_the_page_with_secrets_masked():
    body = Client(REMOTE_ADDR="127.0.0.1").get("/health/live", HTTP_HOST="evil.example", HTTP_ACCEPT="text/html").content.decode()
    assert "DisallowedHost" in body and "CELERY_BROKER_URL" in body
    assert [v for v in secret_values() if v in body] == []
    assert settings.DEFAULT_EXCEPTION_REPORTER == "hdms_platform.web.debugpages.LoopbackReporter"
