import json
import logging

from hdms_platform.observability.logging import JsonFormatter, RequestIdFilter, request_id_var


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


def test_access_lines_from_many_threads_are_written_whole_with_their_own_request_id(monkeypatch, tmp_path):
    import contextvars
    import io
    import os
    import sys
    import threading

    from hdms_platform.observability.logging import AccessLogHandler

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    handler = AccessLogHandler()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    assert not isinstance(handler.lock, type(threading.RLock()))  # request threads never wait on each other's line
    with handler.lock:  # and it is a lock to Python 3.13's Handler.handle (a context manager) and 3.11's
        assert handler.lock.acquire() is True
    logger = logging.getLogger(f"hdms.test.access.{os.getpid()}")
    logger.propagate, logger.level = False, logging.INFO
    logger.addHandler(handler)

    def request(n: int) -> None:
        request_id_var.set(f"req-{n}")
        for i in range(50):
            logger.info("GET /%d/%d", n, i)

    threads = [threading.Thread(target=contextvars.copy_context().run, args=(request, n)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    handler.close()  # what logging.shutdown does at exit: writes out what is queued
    lines = [json.loads(line) for line in handler._stream.getvalue().splitlines()]
    assert len(lines) == 8 * 50
    assert all(line["message"].startswith(f"GET /{line['request_id'][4:]}/") for line in lines)
