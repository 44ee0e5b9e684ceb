"""Property-based bad input: schemathesis against every service's OpenAPI schema, authenticated.

For each service, as an agent and as a customer, schemathesis generates valid and invalid
requests from the schema (examples, coverage, fuzzing, stateful links) and checks every answer:
no 5xx, every status code documented, every body valid against the documented schema, the
content type as documented. The seed is fixed (HDMS_FUZZ_SEED, default 8) so a run can be
repeated; set another to explore further. A failure prints schemathesis' report with a curl to reproduce it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from hdms_platform.testing.seed import DEV_PASSWORD, USERS

from .conftest import manage, service_url
from .helpdesk import PASSWORD, Helpdesk, Person

ST = str(Path(sys.executable).parent / "st")
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance"
)


@pytest.fixture(scope="module")
def desk(stack_env) -> Helpdesk:
    assert manage("user", "seed_dev_data").returncode == 0
    return Helpdesk(stack_env)


@pytest.fixture(scope="module")
def people(desk) -> dict[str, Person]:
    """Fresh accounts, signed in once: the fuzzer learns their emails (stateful links) and tries
    wrong passwords on them until the per-account limit locks them, which must not lock the
    seeded accounts other tests use."""
    admin = desk.login(USERS["admin"][1], DEV_PASSWORD)
    agent = desk.customer()
    promoted = desk.call("user", "PUT", f"/api/v1/users/{agent.user_id}/roles/", admin, json={"roles": ["agent"]})
    assert promoted.status_code == 200, promoted.text
    return {"agent": desk.login(agent.email, PASSWORD), "customer": desk.customer()}


@pytest.mark.parametrize("role", ["agent", "customer"])
@pytest.mark.parametrize("service", ["user", "ticket", "communication", "file"])
def test_no_server_error_and_no_response_off_the_schema(stack_env, desk, people, service, role):
    who = people[role]
    if service == "file":
        desk.ticket(who)  # something to attach to
    result = subprocess.run(
        [
            ST,
            "run",
            f"{service_url(stack_env, service)}/api/schema/",
            "--header",
            f"Authorization: Bearer {who.token}",
            "--checks",
            CHECKS,
            "--max-examples",
            "25",
            "--workers",  # one: two threads hit CPython 3.11.7's "AST constructor recursion depth
            "1",  # mismatch" SystemError inside schemathesis' coverage phase now and then (gh-106905)
            "--seed",
            os.environ.get("HDMS_FUZZ_SEED", "8"),
            "--suppress-health-check",
            "all",
            "--request-timeout",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = result.stdout[-6000:]
    print(summary)
    assert "Tested:" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.returncode == 0, summary


def test_the_communication_schema_has_only_the_audit_log_over_http(stack_env, people):
    """communication-service speaks WebSockets; its one HTTP operation is its audit log (fuzzed
    above like the others). Another one added there is a decision to make on purpose."""
    schema = httpx.get(
        f"{service_url(stack_env, 'communication')}/api/schema/?format=json",
        headers={"Authorization": f"Bearer {people['agent'].token}"},
        timeout=10,
    )
    assert schema.status_code == 200, schema.text
    assert list(schema.json()["paths"]) == ["/api/v1/audit/communication/"]
