"""Celery: no-op task throughput, and one worker process by setting."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from bench.measure import CELERY_CONCURRENCY, log
from bench.stack import Bench
from hdms_tools.stack import REPO


def celery(bench: Bench) -> dict:
    tasks = 100 if bench.args.smoke else 1000
    app = bench.celery_client()
    begin = time.monotonic()
    results = [app.send_task("hdms.file.ping", args=[str(i)], queue="hdms.file") for i in range(tasks)]
    for result in results:
        result.get(timeout=120)
    elapsed = time.monotonic() - begin
    out = {
        "tasks": tasks,
        "seconds": elapsed,
        "per_second": tasks / elapsed,
        "per_process": tasks / elapsed / CELERY_CONCURRENCY,
    }
    log(
        f"celery: {tasks} no-op tasks in {elapsed:.1f}s = {out['per_second']:.0f}/s ({out['per_process']:.0f}/s per worker process)"
    )
    return out


def celery_settings(bench: Bench) -> list[dict]:
    """No-op tasks/s of ONE worker process under each setting, side by side: a file-service
    worker (production settings and signal handlers) with concurrency 1 on a queue of its own,
    fed by one client as fast as it sends; the rate is tasks / time until the queue and the
    broker's unacknowledged set are both empty (polled every 5 ms)."""
    import redis

    from hdms_platform.conf.catalogue import REDIS_KEY_PREFIX

    tasks = 200 if bench.args.smoke else 3000
    variants = [
        ("production: prefork, acks late, prefetch 1", "prefork", "acks_late", 1),
        ("prefork, acks late, prefetch 16", "prefork", "acks_late", 16),
        ("prefork, acks early, prefetch 1", "prefork", "acks_early", 1),
        ("prefork, acks early, prefetch 16", "prefork", "acks_early", 16),
        ("solo pool (no child process), acks late, prefetch 16", "solo", "acks_late", 16),
    ]
    prefix = REDIS_KEY_PREFIX["broker"]
    client = redis.Redis.from_url(
        f"redis://hdms-broker:{bench.values['REDIS_BROKER_PASSWORD']}@127.0.0.1:{bench.values['REDIS_PORT']}/2"
    )
    app = bench.celery_client()

    def drained(queue: str) -> bool:
        return client.llen(f"{prefix}{queue}") == 0 and client.hlen(f"{prefix}unacked") == 0

    def wait_drained(queue: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not drained(queue):
            if time.monotonic() > deadline:
                raise SystemExit(f"celery bench: queue {queue} not drained within {timeout:.0f}s")
            time.sleep(0.005)

    rows = []
    for index, (label, pool, mode, prefetch) in enumerate(variants):
        queue, task = f"hdms.bench.{index}", f"bench.noop.{mode}"
        argv = [
            str(REPO / ".venv" / "bin" / "celery"), "-A", "core", "worker", "--loglevel", "WARNING", "--pool", pool,
            "--concurrency", "1", "--prefetch-multiplier", str(prefetch), "--queues", queue,
            "--hostname", f"bench{index}@%h", "--without-mingle", "--without-gossip", "--include", "bench_noop",
        ]  # fmt: skip
        metrics_dir = bench.state / f"metrics-bench{index}"
        metrics_dir.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "HDMS_SETTINGS": "prod",
            "PYTHONPATH": f"{REPO / 'bench'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
        with open(bench.state / f"celery-bench{index}.log", "ab") as log_file:
            worker = subprocess.Popen(
                argv, cwd=REPO / "services" / "file-service" / "src", env=env, start_new_session=True,
                stdout=log_file, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            app.send_task(task, queue=queue)  # the worker is up and warm once this one is gone
            wait_drained(queue, 120)
            begin = time.monotonic()
            for _ in range(tasks):
                app.send_task(task, queue=queue)
            sent = time.monotonic() - begin
            wait_drained(queue, 300)
            elapsed = time.monotonic() - begin
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
        rows.append({"label": label, "tasks": tasks, "seconds": elapsed, "per_second": tasks / elapsed, "send_seconds": sent})
        log(f"celery {label}: {tasks / elapsed:.0f} tasks/s per process (sending took {sent:.1f}s)")
    return rows
