import pytest


@pytest.mark.django_db(transaction=True)
def test_ready_reports_each_dependency_with_latency(client):
    response = client.get("/health/ready")
    body = response.json()
    assert response.status_code == 200, body
    assert set(body["checks"]) == {"database", "cache"}
    for check in body["checks"].values():
        assert check["ok"] is True
        assert check["latency_ms"] >= 0


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
