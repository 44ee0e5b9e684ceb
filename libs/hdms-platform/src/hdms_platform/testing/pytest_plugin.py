"""pytest plugin shared by every service's suite.

Tests run against the private stack `make test` starts (real PostgreSQL through PgBouncer in
transaction mode, real Redis). Its databases are migrated before the suites run, so pytest-django
uses them as they are and rolls every test back; nothing is created or left behind.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def django_db_setup():
    """Use the stack's already-migrated databases (through PgBouncer); never create test databases."""
    yield


@pytest.fixture(autouse=True)
def _isolated_cache(settings):
    """A per-test cache key prefix on the real Redis, so tests never see each other's keys."""
    import uuid

    default = {**settings.CACHES["default"]}
    default["KEY_PREFIX"] = f"{default['KEY_PREFIX']}:test:{uuid.uuid4().hex[:8]}"
    settings.CACHES = {**settings.CACHES, "default": default}
