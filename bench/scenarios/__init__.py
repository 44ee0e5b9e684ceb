"""One module per scenario of `make bench`: each function takes the running Bench and returns its
results; SCENARIOS names them for `--only` and says the order of a full run."""

from __future__ import annotations

from bench.scenarios import database, django, events, fanout, memory, tasks, uploads

# name -> scenario, in the order of a full run: the mixed workload last, since its writes leave the
# relay and the events worker busy for a while.
SCENARIOS = {
    "pgbench": database.pgbench_side_by_side,
    "django": django.django,
    "fanout": fanout.fanout,
    "events": events.events_pipeline,
    "celery": tasks.celery,
    "celery_settings": tasks.celery_settings,
    "uploads": uploads.uploads,
    "mixed": django.mixed,
}
MEMORY_AT_REST = memory.memory_at_rest
