import json
import logging

from hdms_platform.logging import JsonFormatter, RequestIdFilter, request_id_var


def test_request_id_is_echoed_or_generated(client):
    given = client.get("/health/live", HTTP_X_REQUEST_ID="abc-123")
    assert given["X-Request-ID"] == "abc-123"
    made = client.get("/health/live", HTTP_X_REQUEST_ID="bad id with spaces\n")
    assert made["X-Request-ID"] != "bad id with spaces\n" and len(made["X-Request-ID"]) == 32


def test_json_formatter_carries_the_request_id():
    token = request_id_var.set("req-42")
    try:
        record = logging.LogRecord("hdms.test", logging.WARNING, __file__, 1, "cache down: %s", ("timeout",), None)
        RequestIdFilter().filter(record)
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["request_id"] == "req-42"
    assert line["message"] == "cache down: timeout"
    assert line["level"] == "WARNING" and line["logger"] == "hdms.test"
