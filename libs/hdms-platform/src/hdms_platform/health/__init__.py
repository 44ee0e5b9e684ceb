"""(Django app) Liveness and readiness (the checks, the views) and the state a service's /metrics reads at scrape time."""
