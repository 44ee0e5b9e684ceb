"""Fixtures of the fault suite; the table of results is printed at the end of the run."""

from __future__ import annotations

import pytest

from tests.conftest import manage, stack_env  # noqa: F401 - fixtures shared with the integration tests
from tests.helpdesk import Helpdesk, Person

from . import harness


@pytest.fixture(scope="session")
def desk(stack_env) -> Helpdesk:  # noqa: F811
    assert manage("user", "seed_dev_data").returncode == 0
    return Helpdesk(stack_env)


@pytest.fixture
def customer(desk) -> Person:
    return desk.customer()


def pytest_terminal_summary(terminalreporter):
    if harness.REPORT:
        terminalreporter.write_sep("=", "fault suite")
        terminalreporter.write_line(harness.table())
