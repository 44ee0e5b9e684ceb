"""pytest plugin shared by every service's suite.

Tests run against the private stack `make test` starts (real PostgreSQL through PgBouncer in
transaction mode, real Redis). Its databases are migrated before the suites run, so pytest-django
uses them as they are and rolls every test back; nothing is created or left behind.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def django_db_setup(django_db_blocker):
    """Use the stack's already-migrated databases (through PgBouncer); never create test databases."""
    from django.conf import settings

    for alias in settings.DATABASES:
        settings.DATABASES[alias].setdefault("TEST", {})
    yield


@pytest.fixture(autouse=True)
def _isolated_cache(settings, request):
    """A per-test cache key prefix on the real Redis, so tests never see each other's keys."""
    import uuid

    if "CACHES" in dir(settings):
        caches = {**settings.CACHES}
        default = {**caches["default"]}
        default["KEY_PREFIX"] = f"{default.get('KEY_PREFIX', '')}:test:{uuid.uuid4().hex[:8]}"
        caches["default"] = default
        settings.CACHES = caches
    yield
