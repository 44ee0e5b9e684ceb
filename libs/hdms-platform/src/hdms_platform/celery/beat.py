"""The single Celery beat process: every RETENTION_INTERVAL_SECONDS it sends the retention task
(retention.py) to each service's queue, where that service's worker runs it with its own database
role. Run exactly one (`celery -A hdms_platform.celery.beat beat`): two would only purge twice as often.

Deliberately not a Django process: it needs the broker and nothing else, so it loads no service's
settings and holds no secret but the broker role's password.
"""

from __future__ import annotations

from celery import Celery

from hdms_platform.conf.catalogue import SERVICES, task_queue
from hdms_platform.conf.defaults import celery_settings
from hdms_platform.conf.env import env
from hdms_platform.db.retention import TASK

INTERVAL_SECONDS = env.int("RETENTION_INTERVAL_SECONDS", 3600, min_value=5)

app = Celery("hdms_beat")
app.conf.update({key.removeprefix("CELERY_").lower(): value for key, value in celery_settings().items()})
app.conf.beat_schedule = {
    f"retention-{service}": {
        "task": TASK,
        "schedule": float(INTERVAL_SECONDS),
        # A run that waited a whole interval (its worker was down) is dropped: the next one comes.
        "options": {"queue": task_queue(service), "expires": INTERVAL_SECONDS},
    }
    for service in SERVICES
}


if __name__ == "__main__":  # `python -m hdms_platform.celery.beat`: the container's health check, a broker round-trip
    import sys

    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=3)
            connection.default_channel.client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy", said in one line
        print(f"beat cannot reach the broker: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
    print("beat reaches the broker")
