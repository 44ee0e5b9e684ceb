import pytest

from hdms_platform.conf import builders as platform
from hdms_platform.conf import catalogue
from hdms_platform.conf.ttl import TTL


def test_database_points_at_pgbouncer_and_is_pooling_safe(make_env):
    dbs = platform.database("ticket", env=make_env())
    assert set(dbs) == {"default", "migrations"}
    for alias in dbs.values():
        assert (alias["HOST"], alias["PORT"]) == ("10.1.2.3", "7432")
        assert alias["OPTIONS"]["prepare_threshold"] is None
        assert alias["OPTIONS"]["connect_timeout"] == 2
        assert alias["DISABLE_SERVER_SIDE_CURSORS"] is True
        assert alias["CONN_HEALTH_CHECKS"] is True
        assert alias["USER"] == "hdms_ticket"
    assert dbs["default"]["NAME"] == "hdms_ticket"
    assert dbs["migrations"]["NAME"] == "hdms_ticket_session"
    assert dbs["default"]["CONN_MAX_AGE"] == 60


def test_asgi_service_never_keeps_connections(make_env):
    assert platform.database("communication", asgi=True, env=make_env())["default"]["CONN_MAX_AGE"] == 0


def test_redis_roles_default_to_db_0_1_2_and_move_by_url(make_env):
    urls = platform.redis_urls(make_env(REDIS_HOST="redis.internal", REDIS_PORT="6380"))
    assert urls["cache"].endswith("@redis.internal:6380/0")
    assert urls["channels"].endswith("@redis.internal:6380/1")
    assert urls["broker"].endswith("@redis.internal:6380/2")
    moved = platform.redis_urls(make_env(CELERY_BROKER_URL="rediss://:pw@broker.internal:6379/0"))
    assert moved["broker"] == "rediss://:pw@broker.internal:6379/0"
    assert moved["cache"].endswith("/0") and "broker.internal" not in moved["cache"]


def test_caches_prefix_version_ttl_and_bounded_sockets(make_env):
    cache = platform.caches("file", env=make_env(REDIS_SOCKET_TIMEOUT="0.5"))["default"]
    assert cache["KEY_PREFIX"] == "cache:file"
    assert cache["VERSION"] == 1
    assert cache["TIMEOUT"] == TTL.MEDIUM and cache["TIMEOUT"] is not None
    assert cache["OPTIONS"]["SOCKET_TIMEOUT"] == 0.5
    assert cache["OPTIONS"]["SOCKET_CONNECT_TIMEOUT"] == 0.5
    assert cache["OPTIONS"]["IGNORE_EXCEPTIONS"] is True


def test_channel_layer_is_pubsub_on_the_channels_role_with_namespace_prefix(make_env):
    layer = platform.channel_layers("communication", env=make_env())["default"]
    assert layer["BACKEND"] == "hdms_platform.events.channel_layer.PubSubChannelLayer"
    assert layer["CONFIG"]["hosts"][0]["address"].endswith("/1")
    assert layer["CONFIG"]["prefix"] == "channels:communication"


def test_celery_on_db2_per_service_queue_json_acks_late(monkeypatch):
    import importlib

    from hdms_platform.conf import defaults

    def reloaded(**variables) -> dict:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        return importlib.reload(defaults).celery_settings()

    try:
        config = reloaded(CELERY_VISIBILITY_TIMEOUT="600")
        assert config["CELERY_BROKER_URL"].endswith("/2")
        assert config["CELERY_ACCEPT_CONTENT"] == ["json"]
        assert config["CELERY_TASK_ACKS_LATE"] and config["CELERY_TASK_REJECT_ON_WORKER_LOST"]
        assert config["CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP"] is True
        options = config["CELERY_BROKER_TRANSPORT_OPTIONS"]
        # a dead worker's task comes back, but never while a live worker may still be running it
        assert options["visibility_timeout"] == 600 > config["CELERY_TASK_TIME_LIMIT"] > config["CELERY_TASK_SOFT_TIME_LIMIT"] > 0
        assert options["unacked_restore_interval"] * options["unacked_restore_throttle"] <= 10
        assert reloaded(CELERY_VISIBILITY_TIMEOUT="20")["CELERY_BROKER_TRANSPORT_OPTIONS"]["visibility_timeout"] == 20
    finally:
        monkeypatch.undo()
        importlib.reload(defaults)


def test_the_catalogue_names_each_service_once():
    assert catalogue.task_queue("file") == "hdms.file"
    assert [catalogue.default_port(s) for s in catalogue.SERVICES] == [8001, 8002, 8003, 8004]
    with pytest.raises(ValueError, match="unknown service 'mail'"):
        catalogue.task_queue("mail")


def test_ttl_policies_are_ordered():
    assert 0 < TTL.SHORT < TTL.MEDIUM < TTL.LONG


def test_the_session_entry_for_migrations_can_be_another_pooler(make_env):
    """PgBouncer's session-mode entry is `hdms_<service>_session` on the same PgBouncer; a pooler with
    one pool mode per instance (CloudNativePG's Pooler) has it on another host under the plain name."""
    same = platform.database("file", env=make_env())["migrations"]
    assert (same["HOST"], same["NAME"]) == ("10.1.2.3", "hdms_file_session")
    moved = platform.database("file", env=make_env(PGBOUNCER_SESSION_HOST="pgbouncer-session"))
    assert (moved["migrations"]["HOST"], moved["migrations"]["NAME"]) == ("pgbouncer-session", "hdms_file")
    assert (moved["default"]["HOST"], moved["default"]["NAME"]) == ("10.1.2.3", "hdms_file")
