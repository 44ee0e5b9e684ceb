"""A task's retry that cannot be published (the broker is down) requeues the task; Celery's own
Task drops it (Reject, requeue=False), which with acks_late loses the message. A real, closed
broker port: nothing listens there."""

import pytest
from celery import Task
from celery.exceptions import Reject

from hdms_platform.celery.app import make_app


def _retry_with_the_broker_down(app) -> Reject:
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    app.conf.broker_transport_options = {"socket_connect_timeout": 0.2}

    @app.task(bind=True, acks_late=True, name="hdms.test.retrying", shared=False)
    def retrying(self):
        return None

    retrying.push_request(id="retry-probe", called_directly=False, args=[], kwargs={}, delivery_info={})
    try:
        with pytest.raises(Reject) as rejected:
            retrying.retry(exc=ConnectionError("the broker is down"), countdown=0, max_retries=None)
    finally:
        retrying.pop_request()
    return rejected.value


def test_a_retry_that_cannot_be_published_is_requeued_not_dropped():
    assert _retry_with_the_broker_down(make_app("ticket")).requeue is True


def test_celery_alone_would_drop_it():  # what the platform's task class is there for
    from celery import Celery

    assert _retry_with_the_broker_down(Celery("plain", task_cls=Task)).requeue is False
