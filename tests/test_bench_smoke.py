"""`python -m bench.run --smoke`: every scenario of `make bench` runs, seconds each, so the bench cannot rot.

Nothing here asserts a timing (the machine is shared); only that each scenario produced figures
and that correctness held under the load: no HTTP errors, no lost WebSocket deliveries, every
upload processed.
"""

import json
import subprocess
import sys

from hdms_tools.stack import REPO


def test_bench_smoke_runs_every_scenario(tmp_dir):
    output = tmp_dir / "performance.md"
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--output", str(output)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    figures = json.loads(output.with_suffix(".json").read_text())
    django = figures["django"]
    runs = [
        *django["read"]["32"].values(),
        *django["floor"].values(),
        *django["list"].values(),
        figures["mixed"]["mixed"],
        figures["mixed"]["bare"],
    ]
    failed = [run for run in runs if not run["rps"] or run["errors"]]
    assert not failed, f"{failed}\n{result.stdout[-3000:]}"
    fanout = figures["fanout"]  # the production layer loses nothing; the rejected one is measured too
    assert fanout["pubsub"]["deliveries"] > 0 and fanout["pubsub"]["lost"] == 0
    assert fanout["lists"]["deliveries"] > 0
    assert all(run["client_cpu"] > 0 and run["server_cpu"] > 0 for run in fanout.values())
    assert figures["uploads"]["ready"] == figures["uploads"]["count"] == 20
    assert figures["celery"]["per_second"] > 0
    assert len(figures["celery_settings"]) == 5 and all(row["per_second"] > 0 for row in figures["celery_settings"])
    events = figures["events"]  # outbox row -> relay -> events worker -> socket
    assert events["burst_received"] == events["burst"] and events["steady_lost"] == 0 and events["per_second"] > 0
    assert output.with_suffix(".png").stat().st_size > 0 and "## Targets" in output.read_text()
