import pytest


@pytest.mark.django_db(transaction=True)
def test_ready_reports_each_dependency_with_latency(client):
    response = client.get("/health/ready")
    body = response.json()
    assert response.status_code == 200, body
    assert set(body["checks"]) == {"database", "cache", "lag"} and body["status"] == "ok"
    for check in body["checks"].values():
        assert check["ok"] is True
        assert check["latency_ms"] >= 0
    assert body["checks"]["lag"]["degraded"] is False


def lagging() -> dict:
    return {"lag_seconds": 61.0, "pending": 3}


@pytest.mark.django_db(transaction=True)
def test_a_lagging_pipeline_is_degraded_not_failed(client, settings):
    settings.HDMS_LAG_PROBE = "tests.test_health.lagging"
    settings.READINESS_LAG_SECONDS = 60
    response = client.get("/health/ready")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "degraded" and "failed" not in body
    assert body["checks"]["lag"] | {"latency_ms": 0} == {
        "ok": True,
        "latency_ms": 0,
        "lag_seconds": 61.0,
        "pending": 3,
        "degraded": True,
    }
    settings.READINESS_LAG_SECONDS = 61
    assert client.get("/health/ready").json()["status"] == "ok"


@pytest.mark.django_db(transaction=True)
def test_a_lag_probe_that_cannot_answer_degrades_and_says_nothing_more(client, settings):
    settings.HDMS_LAG_PROBE = "tests.test_health.no_such_probe"
    response = client.get("/health/ready")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "degraded"
    lag = body["checks"]["lag"]
    assert lag | {"latency_ms": 0} == {"ok": True, "latency_ms": 0, "degraded": True, "lag_seconds": None, "error": "unavailable"}
    assert "no_such_probe" not in response.content.decode()


def test_live_has_no_dependencies(client, settings):
    """No django_db mark: any query would raise. The cache points at a closed port."""
    caches = {**settings.CACHES}
    caches["default"] = {
        **caches["default"],
        "LOCATION": "redis://:x@127.0.0.1:1/0",
        "OPTIONS": {**caches["default"]["OPTIONS"], "IGNORE_EXCEPTIONS": False},
    }
    settings.CACHES = caches
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.django_db(transaction=True)
def test_ready_names_the_failed_dependency(client, settings):
    caches = {**settings.CACHES}
    caches["default"] = {**caches["default"], "LOCATION": "redis://:x@127.0.0.1:1/0"}
    settings.CACHES = caches
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["failed"] == ["cache"]
    assert response.json()["checks"]["cache"]["error"] == "unavailable"
    assert "127.0.0.1" not in response.content.decode() and "Error" not in response.content.decode()


_probe_connections = []


def lag_from_the_database() -> dict:
    from django.db import connections

    connection = connections["default"]  # this thread's own wrapper, not the proxy
    with connection.cursor() as cursor:
        cursor.execute("SELECT 0")
        (lag,) = cursor.fetchone()
    _probe_connections.append(connection)
    return {"lag_seconds": float(lag)}


@pytest.mark.django_db(transaction=True)
def test_a_check_leaves_no_connection_open_in_its_thread(client, settings):
    """The checks run in a pool of long-lived threads that no request signal cleans up: a
    connection left open there goes stale when PgBouncer restarts, and the next probe that thread
    runs fails on it ("server closed the connection unexpectedly"), as a fresh-clone run saw."""
    settings.HDMS_LAG_PROBE = "tests.test_health.lag_from_the_database"
    _probe_connections.clear()
    for _ in range(3):
        assert client.get("/health/ready").json()["status"] == "ok"
    assert len(_probe_connections) == 3
    assert all(connection.connection is None for connection in _probe_connections)
