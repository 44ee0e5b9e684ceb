"""Faults in compose: the PgBouncer and Redis containers stopped under load, through the gateway.
The native fault suite's properties (chaos/): a refusal is a fast JSON 503, no request hangs, the
stack works again within seconds of the restart, every acknowledged write is stored and every
stored comment reaches the watching socket (live or by replay), exactly once."""

from __future__ import annotations

import time

import pytest

from chaos.harness import CLIENT_TIMEOUT, Load, SocketWatcher, found, wait_for
from tests.helpdesk import Helpdesk

OUTAGE_SECONDS = 8
FAIL_FAST_SECONDS = 3.0  # a container stopped: its name leaves Docker's DNS; the 2 s connect bound plus the hop
RECOVERY_SECONDS = 10.0  # from `docker compose start` returning to the first acknowledged write


@pytest.mark.parametrize("server", ["pgbouncer", "redis"])
def test_a_server_stopped_under_load(dev, server):
    desk = Helpdesk(dev.values, through_gateway=True)
    customer = desk.customer()
    watched = desk.ticket(customer, f"watched while {server} stops")["id"]
    with SocketWatcher(desk, customer, watched) as watcher:
        with Load(desk, customer, watched, jobs=("create", "comment", "detail")) as load:
            time.sleep(3)
            stopped = time.monotonic()
            dev.run("stop", "--timeout", "2", server)
            time.sleep(OUTAGE_SECONDS)
            dev.run("start", server)
            started = time.monotonic()
            wait_for(lambda: load.first_success_after(started, "write") is not None, timeout=30)
            time.sleep(3)
        recovery = load.first_success_after(started, "write")
        outcomes = load.outcomes
        hung = [o for o in outcomes if not isinstance(o.status, int) or o.seconds >= CLIENT_TIMEOUT]
        during = load.between(stopped + 2, started)
        refused = [o for o in during if not o.ok]
        slow_refusals = [o for o in refused if not o.refused_within(FAIL_FAST_SECONDS)]
        comments = [o.write_id for o in outcomes if o.job == "comment" and o.write_id]
        tickets = [o.write_id for o in outcomes if o.job == "create" and o.write_id]
        print(
            f"\n{server} stopped {OUTAGE_SECONDS}s: sent {len(outcomes)}, refused during {len(refused)}/{len(during)}, "
            f"hung {len(hung)}, slow refusals {len(slow_refusals)}, recovery {recovery:.2f}s, "
            f"writes acknowledged {len(tickets)} tickets + {len(comments)} comments"
        )
        assert not hung, hung[:3]
        assert not slow_refusals, [(o.status, round(o.seconds, 2)) for o in slow_refusals[:5]]
        if server == "pgbouncer":
            assert refused, "nothing was refused while PgBouncer was stopped: the fault did not happen"
        assert recovery is not None and recovery <= RECOVERY_SECONDS, recovery
        dev.wait_healthy()
        assert found(dev.values, "tickets_ticket", tickets) == set(tickets)
        assert found(dev.values, "tickets_comment", comments) == set(comments)
        wait_for(lambda: set(comments) <= set(watcher.comment_ids()), timeout=60)
    seen = watcher.comment_ids()
    twice = {c for c, n in seen.items() if n != 1}
    assert not twice, (
        f"comment events received more than once: {len(twice)}; their seqs "
        f"{[(e['seq'], e['_connection']) for e in watcher.events if e.get('type') == 'comment.added' and e['data']['comment']['id'] in twice][:20]}; "
        f"closes {watcher.close_codes}, connects {watcher.connects}"
    )
