"""Every event the helpdesk really produces, as the events worker stored it, matches its type's
contract (hdms_platform.events.contracts): a ticket created and updated, a public and an internal comment,
an upload checked and ready. The producers check on write; this checks what arrived."""

import time

from hdms_platform.events.contracts import EVENT_DATA, check_event
from tests.conftest import db_connect
from tests.helpdesk import Helpdesk, png, upload, wait_status

EXPECTED = {"ticket.created", "ticket.updated", "comment.added", "attachment.ready"}


def test_every_event_a_ticket_goes_through_matches_its_contract(stack_env):
    desk = Helpdesk(stack_env)
    customer, agent = desk.customer(), desk.agent()
    ticket = desk.ticket(customer, "Contracts")
    response = desk.call("ticket", "POST", f"/api/v1/tickets/{ticket['id']}/transition/", agent, json={"status": "pending"})
    assert response.status_code == 200, response.text
    desk.comment(customer, ticket["id"], "It smells of toner.")
    desk.comment(agent, ticket["id"], "Staff only: order a new one.", internal=True)
    uploaded = upload(desk, customer, ticket["id"], "photo.png", png(), "image/png")
    assert uploaded.status_code == 201, uploaded.text
    wait_status(desk, customer, uploaded.json()["id"], {"ready"})

    deadline, stored = time.monotonic() + 30, []
    while time.monotonic() < deadline:
        with db_connect(stack_env, "communication") as conn:
            stored = conn.execute(
                "SELECT payload FROM conversations_ticket_event WHERE ticket_id = %s ORDER BY id", [ticket["id"]]
            ).fetchall()
        if {payload["type"] for (payload,) in stored} >= EXPECTED and len(stored) >= 5:
            break
        time.sleep(0.2)
    types = [payload["type"] for (payload,) in stored]
    assert set(types) >= EXPECTED and types.count("comment.added") == 2, types
    for (payload,) in stored:
        check_event(payload)  # raises ContractError naming the field that differs
        assert set(payload["data"]) == set(EVENT_DATA[payload["type"]].__annotations__)
    internal = [p for (p,) in stored if p["type"] == "comment.added" and p["data"]["comment"]["is_internal"]]
    assert [p["audience"] for p in internal] == ["staff"]
