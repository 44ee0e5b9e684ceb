"""Shared measurement helpers: wrk runs and their parsing, CPU and memory of process groups, a sampler, percentiles."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

from hdms_tools.stack import REPO

# What `make bench` runs the stack as (hdms_tools.processes) and how long it measures.
PY = str(REPO / ".venv" / "bin" / "python")
GUNICORN = str(REPO / ".venv" / "bin" / "gunicorn")
WEB_WORKERS, WEB_THREADS, CELERY_CONCURRENCY = 4, 4, 2  # as the stack runs them (hdms_tools.processes)
PAIRS, PAIR_SECONDS = 10, 3  # Bench.paired: short runs taking turns, A B B A
FANOUT_SECONDS = 20  # at 2 events/s: 40 events, so one slow moment of the machine is not the p99
UPLOAD_ROUNDS = 3  # of 20 concurrent uploads: one p95 over 60, not the 19th of 20
FANOUT_CLIENTS = 2  # processes holding the fan-out subscribers (bench/fanout_client.py)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def ensure_wrk() -> str:
    if not shutil.which("wrk"):
        if os.geteuid() != 0:
            raise SystemExit("wrk is missing: run `sudo apt-get install -y wrk`")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "wrk"]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
            subprocess.run(install, env=env, check=True, capture_output=True)
    return shutil.which("wrk")


def group_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (gunicorn/uvicorn master + workers), in MiB."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, AttributeError):
            continue
    return total / 1024


def build_channel_layer(config: dict):
    """The channel layer the settings name, built outside Django (the bench is not a Django process)."""
    from django.utils.module_loading import import_string

    return import_string(config["BACKEND"])(**config.get("CONFIG", {}))


class ProcessCpu:
    """CPU seconds used by a process and its children (a server's master + workers) from now on."""

    def __init__(self, pid: int):
        self.pid = pid
        self.start = self._total()

    def _total(self) -> float:
        total, todo, tick = 0.0, [self.pid], os.sysconf("SC_CLK_TCK")
        while todo:
            current = todo.pop()
            try:
                fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
                for task in Path(f"/proc/{current}/task").iterdir():
                    todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
        return total

    def seconds(self) -> float:
        return self._total() - self.start


class Sampler:
    """Samples a value every 0.2 s in a thread; keeps the maximum."""

    def __init__(self, sample):
        self.sample, self.peak, self._stop = sample, 0.0, threading.Event()

    def __enter__(self):
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # a failed sample is skipped, not fatal
                self.peak = max(self.peak, float(self.sample()))
            self._stop.wait(0.2)

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join()


def wrk(url: str, connections: int, seconds: int, token: str, script: Path | None = None) -> dict:
    argv = [
        "wrk",
        "-t",
        "2",
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-H",
        f"Authorization: Bearer {token}",
        *(["-s", str(script)] if script else []),
        url,
    ]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout

    def latency(label: str) -> float | None:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not match:
            return None
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50": latency("50"),
        "p99": latency("99"),
        "errors": errors + (int(non2xx.group(1)) if non2xx else 0),
    }


def combined(runs: list[dict]) -> dict:
    """Several wrk runs of one scenario as one: mean req/s, the worst p50/p99, all errors."""
    return {
        "rps": sum(r["rps"] for r in runs) / len(runs),
        "p50": max((r["p50"] for r in runs if r["p50"] is not None), default=None),
        "p99": max((r["p99"] for r in runs if r["p99"] is not None), default=None),
        "errors": sum(r["errors"] for r in runs),
        "backends": max(r["backends"] for r in runs),
        "rss": max(r["rss"] for r in runs),
        "runs": [r["rps"] for r in runs],
    }


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
