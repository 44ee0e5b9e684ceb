import copy

from hdms_platform.conf.checks import check_databases, check_redis_roles


def ids(messages):
    return {m.id for m in messages}


def test_current_settings_pass():
    assert not [m for m in check_databases() + check_redis_roles() if m.is_serious()]


def test_database_bypassing_pgbouncer_fails(settings):
    dbs = copy.deepcopy(settings.DATABASES)
    dbs["default"]["HOST"] = "/var/run/postgresql"
    settings.DATABASES = dbs
    assert "hdms.E001" in ids(check_databases())


def test_prepared_statements_on_fails(settings):
    dbs = copy.deepcopy(settings.DATABASES)
    dbs["default"]["OPTIONS"]["prepare_threshold"] = 5
    settings.DATABASES = dbs
    assert "hdms.E002" in ids(check_databases())
    del dbs["default"]["OPTIONS"]["prepare_threshold"]
    settings.DATABASES = dbs
    assert "hdms.E002" in ids(check_databases())


def test_server_side_cursors_on_fails(settings):
    dbs = copy.deepcopy(settings.DATABASES)
    dbs["migrations"]["DISABLE_SERVER_SIDE_CURSORS"] = False
    settings.DATABASES = dbs
    assert "hdms.E003" in ids(check_databases())


def test_asgi_with_persistent_connections_fails(settings):
    settings.ASGI_APPLICATION = "core.asgi.application"
    assert "hdms.E004" in ids(check_databases())


def test_missing_redis_roles_fail(settings):
    settings.HDMS_REDIS_ROLES = ("cache", "channels", "broker")
    settings.CHANNEL_LAYERS = {}
    settings.CELERY_BROKER_URL = ""
    found = ids(check_redis_roles())
    assert {"hdms.E011", "hdms.E012"} <= found
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "x"}}
    assert "hdms.E010" in ids(check_redis_roles())


def test_wsgi_entry_point_refuses_to_start_on_a_check_error(settings):
    import pytest
    from django.core.exceptions import ImproperlyConfigured

    from hdms_platform.web import startup

    dbs = copy.deepcopy(settings.DATABASES)
    dbs["default"]["PORT"] = "5432"
    settings.DATABASES = dbs
    with pytest.raises(ImproperlyConfigured, match=r"hdms\.E001"):
        startup._check()
    assert settings.DATABASES["default"]["PORT"] == "5432"
