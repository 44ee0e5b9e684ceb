"""The events worker waits in place for the database, so later events cannot overtake one."""

import pytest
from django.db import OperationalError

from apps.conversations.tasks import wait_for_the_database


def test_the_step_is_retried_in_place_until_the_database_answers():
    attempts = []

    def step():
        attempts.append(1)
        if len(attempts) < 3:
            raise OperationalError("connection refused")
        return "stored"

    assert wait_for_the_database(step, budget=5) == "stored"
    assert len(attempts) == 3


def test_past_the_budget_the_error_goes_to_celery():
    def step():
        raise OperationalError("still down")

    with pytest.raises(OperationalError):
        wait_for_the_database(step, budget=0.5)


def test_other_errors_are_not_waited_for():
    def step():
        raise ValueError("a bug")

    with pytest.raises(ValueError):
        wait_for_the_database(step, budget=5)
