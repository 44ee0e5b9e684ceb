"""`make bench`: the stack's speed, side by side in one run, written to docs/performance.md.

Starts a private production-like stack (prod settings, DEBUG off, gunicorn for the WSGI services,
uvicorn for communication-service), seeds thousands of tickets, drives it with wrk (Debian's
package) and Python clients, and reports every figure next to the one it is compared with.

    make bench                                   # ~5 minutes on 2 cores
    .venv/bin/python bench/run.py --smoke        # a few seconds per scenario; used by make test

Three ticket-service instances run the same code with the bench settings (core.settings.bench):
  cached   through PgBouncer, Redis cache        (the production configuration)
  pooled   through PgBouncer, no cache           (every read is a miss)
  direct   PostgreSQL's Unix socket, no cache    (PgBouncer bypassed: the bench-only switch)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pgbench_pooling import CLIENTS as PGBENCH_CLIENTS
from pgbench_pooling import pgbench

from hdms_tools.privatestack import PrivateStack, free_ports
from hdms_tools.stack import REPO, find_postgres_bindir, wait_until

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


# -- measuring ----------------------------------------------------------------------------------


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


# -- the stack ------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args):
        self.args = args
        services = ("user", "ticket", "communication", "file")
        self.stack = PrivateStack(
            "hdms-bench-",
            {
                "HDMS_SETTINGS": "prod",
                "PGBOUNCER_POOL_SIZE": "20",
                "POSTGRES_MAX_CONNECTIONS": "600",
                "SECURE_SSL_REDIRECT": "false",
                "LOG_LEVEL": "WARNING",
                "HDMS_WEB_WORKERS": str(WEB_WORKERS),
                "HDMS_CELERY_CONCURRENCY": str(CELERY_CONCURRENCY),
                # The bench is a few users doing the work of a crowd: the per-user limits would measure themselves.
                "WEBSOCKET_MAX_PER_USER": "10000",
                "WRITES_PER_USER_PER_MINUTE": "100000000",
            },
        )
        self.stack.activate()
        self.state, self.env_file, self.values = self.stack.root, self.stack.env_file, self.stack.values
        extra = free_ports(4)  # the three side-by-side ticket-service instances, the list-layer socket server
        self.ports = {
            **{s: int(self.values[f"{s.upper()}_SERVICE_PORT"]) for s in services},
            **dict(zip(("cached", "pooled", "direct", "lists"), extra, strict=True)),
        }
        self.instances: dict[str, subprocess.Popen] = {}

    def sh(self, *argv: str, cwd: Path = REPO, env: dict | None = None) -> None:
        subprocess.run(list(argv), cwd=cwd, env={**os.environ, **(env or {})}, check=True, stdout=subprocess.DEVNULL)

    def start(self) -> None:
        log("starting the private stack (PostgreSQL, PgBouncer pool 20, Redis), migrations, services")
        self.stack.start()
        socket_dir = str(self.state / "data" / "run")
        variants = {
            "cached": {},
            "pooled": {"HDMS_BENCH_CACHE": "off"},
            "direct": {"HDMS_BENCH_CACHE": "off", "HDMS_BENCH_DB": "direct", "HDMS_BENCH_POSTGRES_SOCKET_DIR": socket_dir},
        }
        for name, extra in variants.items():
            argv = [
                GUNICORN,
                "core.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.ports[name]}",
                "--workers",
                str(WEB_WORKERS),
                "--threads",
                str(WEB_THREADS),
                "--timeout",
                "30",
                "--backlog",
                "2048",
                "--reuse-port",  # as the stack runs gunicorn (hdms_tools.processes)
            ]
            self.instances[name] = subprocess.Popen(
                argv,
                cwd=REPO / "services" / "ticket-service" / "src",
                env={**os.environ, "HDMS_SETTINGS": "bench", **extra},
                stdout=open(self.state / f"{name}.log", "ab"),  # noqa: SIM115 - the child owns it until stop()
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # communication-service as the stack runs it, on the list layer (the alternative to pub/sub);
        # imported here: hdms_platform reads its env file on import, which activate() has now set
        from hdms_tools.processes import commands
        from hdms_tools.stack import Config

        argv = [*commands(Config.load())["communication"][0]]
        argv[argv.index("--port") + 1] = str(self.ports["lists"])
        self.instances["lists"] = subprocess.Popen(
            argv,
            cwd=REPO / "services" / "communication-service" / "src",
            env={**os.environ, "HDMS_SETTINGS": "bench", "HDMS_BENCH_CHANNEL_LAYER": "lists"},
            stdout=open(self.state / "lists.log", "ab"),  # noqa: SIM115 - the child owns it until stop()
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for name in variants:
            wait_until(
                lambda name=name: self.get(name, "/bench/bare/").status_code == 200, what=f"ticket-service ({name})", timeout=60
            )
        wait_until(lambda: self.get("lists", "/health/live").status_code == 200, what="communication-service (lists)", timeout=60)
        tickets, comments = (200, 2) if self.args.smoke else (5000, 3)
        log(f"seeding {tickets} tickets with {comments} comments each")
        self.sh(
            PY,
            "manage.py",
            "seed_bench_data",
            "--tickets",
            str(tickets),
            "--comments",
            str(comments),
            cwd=REPO / "services" / "ticket-service",
            env={"HDMS_SETTINGS": "bench"},
        )
        from hdms_platform.testing.tokens import make_access_token

        self.token = make_access_token(
            roles=("agent",), expires_in=3600, key=(self.state / "keys" / "jwt-private.pem").read_text()
        )
        self.ticket_id = self.get("cached", "/api/v1/tickets/?page_size=1").json()["results"][0]["id"]

    def get(self, name: str, path: str, **kwargs):
        import httpx

        token = getattr(self, "token", "")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(f"http://127.0.0.1:{self.ports[name]}{path}", headers=headers, timeout=10, **kwargs)

    def pid(self, name: str) -> int:
        if name in self.instances:
            return self.instances[name].pid
        return int((self.state / "data" / "run" / f"{name}.pid").read_text())

    def stop(self) -> None:
        for process in self.instances.values():
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(process.pid, signal.SIGKILL)
        self.stack.stop()

    def db(self, service: str, **options):
        """A connection as one service's own role, through PgBouncer (transaction pooling)."""
        import psycopg

        return psycopg.connect(
            host="127.0.0.1",
            port=self.values["PGBOUNCER_PORT"],
            dbname=f"hdms_{service}",
            user=f"hdms_{service}",
            password=self.values[f"{service.upper()}_DB_PASSWORD"],
            prepare_threshold=None,
            **options,
        )

    def backends(self, via: str) -> int:
        """PostgreSQL backends serving hdms_ticket for one side: PgBouncer's server connections
        (SHOW SERVERS), or every other client backend (the direct instance's own connections)."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1",
            port=self.values["PGBOUNCER_PORT"],
            dbname="pgbouncer",
            user=self.values.get("PGBOUNCER_ADMIN_USER", "hdms_pgbouncer"),
            password=self.values["PGBOUNCER_ADMIN_PASSWORD"],
            autocommit=True,
            cursor_factory=psycopg.ClientCursor,
        ) as admin:
            cursor = admin.execute("SHOW SERVERS")
            columns = [c.name for c in cursor.description]
            pooled = sum(1 for r in cursor.fetchall() if dict(zip(columns, r, strict=False))["database"] == "hdms_ticket")
        if via == "pgbouncer":
            return pooled
        with psycopg.connect(
            host=str(self.state / "data" / "run"),
            port=self.values.get("POSTGRES_PORT", "5432"),
            dbname="hdms_ticket",
            user="hdms_ticket",
            password=self.values["TICKET_DB_PASSWORD"],
            prepare_threshold=None,
            autocommit=True,
        ) as conn:
            total = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = 'hdms_ticket' "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            ).fetchone()[0]
        return total - pooled

    # -- scenarios --------------------------------------------------------------------------------

    def http(self, name: str, path: str, connections: int, seconds: int | None = None) -> dict:
        via = "direct" if name == "direct" else "pgbouncer"
        with Sampler(lambda: self.backends(via)) as pg, Sampler(lambda: group_rss_mb(self.pid(name))) as rss:
            result = wrk(f"http://127.0.0.1:{self.ports[name]}{path}", connections, seconds or self.args.seconds, self.token)
        result.update(backends=int(pg.peak), rss=rss.peak)
        if result["errors"] or not result["rps"]:  # say why, from the instance's own log
            log_file = self.state / f"{name}.log"
            tail = log_file.read_text(errors="replace").splitlines()[-8:] if log_file.exists() else []
            log(f"{name}: {result['errors']} error(s), {result['rps']} req/s; its log ends:\n  " + "\n  ".join(tail))
        log(
            f"{name:<7} {path:<48} c={connections:<4} {result['rps']:>8.0f} req/s  p99 {result['p99']} ms  "
            f"errors {result['errors']}  backends {result['backends']}"
        )
        return result

    def django(self) -> dict:
        detail = f"/api/v1/tickets/{self.ticket_id}/"
        for name in ("pooled", "direct", "cached"):  # every worker process connected and warm before any run
            for _ in range(2 * WEB_WORKERS * WEB_THREADS):
                self.get(name, detail)
        out: dict = {"read": {}}
        direct, pooled, out["read_ratio"] = self.paired(("direct", detail), ("pooled", detail))
        out["read"][32] = {"pooled": pooled, "direct": direct}
        out["read"][512] = {name: self.http(name, detail, 512) for name in ("direct", "pooled")}
        self.get("cached", detail)  # warm
        bare, hit, out["hit_ratio"] = self.paired(("cached", "/bench/bare/"), ("cached", detail))
        out["floor"] = {"bare": bare, "hit": hit, "miss": self.http("pooled", detail, 32)}
        page = "/api/v1/tickets/?page_size=50"
        self.get("cached", page)
        self.get("pooled", page)
        uncached, cached, out["list_ratio"] = self.paired(("pooled", page), ("cached", page))
        out["list"] = {"cached": cached, "uncached": uncached}
        return out

    def paired(self, base: tuple[str, str], other: tuple[str, str]) -> tuple[dict, dict, float]:
        """A ratio on a shared machine whose speed drifts within seconds: on this VM a plain Python
        loop runs 1.7x faster in one half-second than in another, and the same build served 1,581
        and 710 req/s six seconds apart. So the two scenarios take turns in short runs at 32 clients,
        PAIRS runs each, in A B B A order (a steady drift weighs on both alike), and the ratio is of
        their mean req/s: equal time, interleaved, so each saw the machine's fast and slow spells
        alike. Single pairs' ratios are reported too; one alone says little. req/s reported is the
        mean, p50/p99 the worst run."""
        pairs, seconds = (2, 2) if self.args.smoke else (PAIRS, PAIR_SECONDS)
        runs = []
        for turn in range(pairs):
            if turn % 2 == 0:
                runs.append((self.http(*base, 32, seconds), self.http(*other, 32, seconds)))
            else:
                o = self.http(*other, 32, seconds)
                runs.append((self.http(*base, 32, seconds), o))
        base_runs, other_runs = combined([b for b, _ in runs]), combined([o for _, o in runs])
        other_runs["pair_ratios"] = [round(o["rps"] / b["rps"], 2) if b["rps"] else 0.0 for b, o in runs]
        # Four places, shown with three: a verdict on a ratio rounded to two would call 0.848 "0.85, met".
        return base_runs, other_runs, round(other_runs["rps"] / base_runs["rps"], 4) if base_runs["rps"] else 0.0

    def mixed(self) -> dict:
        """A helpdesk's traffic at 64 connections (bench/mixed.lua): 6 users (3 customers on their own
        tickets, 2 agents, an admin); half detail reads, a quarter list pages, comment lists, ~12%
        writes (comments; priority changes by staff). Beside it, the bare view at 64 connections."""

        from hdms_platform.testing.tokens import make_access_token

        with self.db("ticket") as conn:
            open_ids = [str(r[0]) for r in conn.execute("SELECT id FROM tickets_ticket WHERE status <> 'closed' LIMIT 200")]
            customers = conn.execute(
                "SELECT requester_id, array_agg(id::text) FROM tickets_ticket WHERE status <> 'closed' "
                "GROUP BY requester_id ORDER BY count(*) DESC LIMIT 3"
            ).fetchall()
        users = [
            {
                "token": make_access_token(user_id=requester, roles=("customer",), expires_in=3600),
                "tickets": ids[:20],
                "staff": False,
            }
            for requester, ids in customers
        ]
        users += [
            {"token": make_access_token(roles=roles, expires_in=3600), "tickets": open_ids[i::3][:40], "staff": True}
            for i, roles in enumerate((("agent",), ("agent",), ("admin",)))
        ]

        def lua(value) -> str:
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, str):
                return json.dumps(value)
            if isinstance(value, list):
                return "{" + ", ".join(lua(v) for v in value) + "}"
            return "{" + ", ".join(f"{k} = {lua(v)}" for k, v in value.items()) + "}"

        users_file = self.state / "users.lua"
        users_file.write_text(f"return {lua(users)}\n")
        os.environ["HDMS_MIXED_USERS"] = str(users_file)
        base = f"http://127.0.0.1:{self.ports['cached']}"
        with Sampler(lambda: group_rss_mb(self.pid("cached"))) as rss:
            result = wrk(base + "/", 64, self.args.seconds, self.token, script=REPO / "bench" / "mixed.lua")
        result["rss"] = rss.peak
        bare = wrk(base + "/bench/bare/", 64, self.args.seconds, self.token)
        log(
            f"mixed workload c=64 {result['rps']:>8.0f} req/s  p99 {result['p99']} ms  errors {result['errors']}; bare {bare['rps']:.0f}"
        )
        return {"mixed": result, "bare": bare, "users": len(users)}

    def pgbench(self) -> list:
        bindir, password = find_postgres_bindir(), self.values["FILE_DB_PASSWORD"]
        pooled = ["-h", "127.0.0.1", "-p", self.values["PGBOUNCER_PORT"], "-U", "hdms_file"]
        direct = ["-h", str(self.state / "data" / "run"), "-p", self.values.get("POSTGRES_PORT", "5432"), "-U", "hdms_file"]
        init = pgbench(bindir, ["-i", "-q", "-s", "10", *pooled, "hdms_file_session"], password)
        if not init["ok"]:
            raise SystemExit(f"pgbench -i failed: {init['error']}")
        rows = []
        for clients in PGBENCH_CLIENTS:
            common = ["-S", "-n", "-c", str(clients), "-j", "2", "-T", str(self.args.seconds)]
            d = pgbench(bindir, [*common, *direct, "hdms_file"], password)
            p = pgbench(bindir, [*common, *pooled, "hdms_file"], password)
            log(f"pgbench {clients:>4} clients  direct {d['tps']:>9.0f} tps  pgbouncer {p['tps']:>9.0f} tps")
            rows.append((clients, d, p))
        return rows

    def fanout(self) -> dict:
        """The production layer (pub/sub, on the stack's communication-service) and the list layer
        it replaced (channels_redis.core, on the bench's second instance), one after the other."""
        from hdms_platform.conf.builders import channel_layers

        lists = {
            "BACKEND": "channels_redis.core.RedisChannelLayer",  # as core/settings/bench.py builds it
            "CONFIG": {
                **channel_layers("communication")["default"]["CONFIG"],
                "capacity": 1000,
                "expiry": 60,
                "group_expiry": 86400,
            },
        }
        return {
            "pubsub": self.fanout_on("communication", channel_layers("communication")["default"]),
            "lists": self.fanout_on("lists", lists),
        }

    def fanout_on(self, server: str, layer_settings: dict) -> dict:
        """One event published to a ticket's group, delivered to every subscriber's socket. The
        subscribers are held by FANOUT_CLIENTS separate processes (bench/fanout_client.py), whose
        CPU use is reported: on 2 cores they compete with the server they measure."""
        from hdms_platform.events.contracts import group_message, ticket_group

        subscribers = 50 if self.args.smoke else 1000
        rate, seconds = (10, self.args.seconds) if self.args.smoke else (2, FANOUT_SECONDS)
        url = f"ws://127.0.0.1:{self.ports[server]}/ws/tickets/{self.ticket_id}/"
        shares = [subscribers // FANOUT_CLIENTS + (i < subscribers % FANOUT_CLIENTS) for i in range(FANOUT_CLIENTS)]
        clients = [
            subprocess.Popen(
                [PY, str(REPO / "bench" / "fanout_client.py"), url, self.token, str(share)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for share in shares
        ]
        try:
            for client in clients:
                if client.stdout.readline().strip() != "ready":
                    raise RuntimeError(f"a fan-out client exited before its sockets were open ({client.wait()})")
            time.sleep(1.0)  # every group_add has landed

            async def publish() -> int:
                layer = build_channel_layer(layer_settings)

                def tick(**data) -> dict:
                    event = {"id": str(uuid.uuid4()), "type": "bench.tick", "ticket_id": self.ticket_id}
                    return group_message({**event, "audience": "everyone", "occurred_at": "", "data": data})

                # one event not counted first: every socket's first delivery warms its code paths
                await layer.group_send(ticket_group(self.ticket_id), tick(sent_at=time.time(), warmup=True))
                await asyncio.sleep(1.0)
                sent = 0
                begin = time.monotonic()
                while time.monotonic() - begin < seconds:
                    await layer.group_send(ticket_group(self.ticket_id), tick(sent_at=time.time()))
                    sent += 1
                    await asyncio.sleep(max(0.0, begin + sent / rate - time.monotonic()))
                await (layer.close_pools() if hasattr(layer, "close_pools") else layer.flush())  # list layer, pub/sub
                return sent

            server_cpu = ProcessCpu(self.pid(server))
            with Sampler(lambda: group_rss_mb(self.pid(server))) as rss:
                begin = time.monotonic()
                sent = asyncio.run(publish())
                reports = []
                for client in clients:
                    client.stdin.write(f"sent {sent}\n")
                    client.stdin.flush()
                for client in clients:
                    reports.append(json.loads(client.stdout.readline()))
                wall = time.monotonic() - begin
            server = server_cpu.seconds()
        finally:
            for client in clients:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    client.wait(timeout=20)
                if client.poll() is None:
                    client.kill()
        deliveries = [(sent_at, ms) for r in reports for sent_at, ms in r["latencies"]]
        latencies = [ms for _, ms in deliveries]
        slowest: dict[float, float] = {}  # per event: its last delivery
        for sent_at, ms in deliveries:
            slowest[sent_at] = max(ms, slowest.get(sent_at, 0.0))
        received = sum(sum(r["counts"]) for r in reports)
        result = {
            "subscribers": subscribers,
            "clients": len(clients),
            "rate": rate,
            "events": sent,
            "deliveries": len(latencies),
            "lost": sent * subscribers - received,
            "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99),
            "rss": rss.peak,
            "last_delivery": [round(slowest[k], 1) for k in sorted(slowest)],
            "client_cpu": sum(r["cpu_seconds"] for r in reports) / wall,
            "server_cpu": server / wall,
        }
        log(
            f"fan-out ({layer_settings['BACKEND'].rsplit('.', 1)[1]}) {subscribers} subscribers x {sent} events: p50 {result['p50']:.1f} ms  p99 {result['p99']:.1f} ms  "
            f"lost {result['lost']}; CPU: clients {result['client_cpu']:.2f} cores, server {result['server_cpu']:.2f}"
        )
        return result

    def events_pipeline(self) -> dict:
        """Events from an outbox row to a socket, through ticket-service's relay and the one events
        worker: the ceiling (a burst of rows committed at once, drained as fast as the pipeline goes)
        and the latency at a steady, helpdesk-like rate (one row per transaction)."""
        from websockets.asyncio.client import connect

        burst, rate, seconds = (100, 10, 1) if self.args.smoke else (1000, 20, self.args.seconds)
        url = f"ws://127.0.0.1:{self.ports['communication']}/ws/tickets/{self.ticket_id}/"
        received: dict[str, float] = {}

        def insert(phase: str, numbers: range) -> float:
            rows = []
            for n in numbers:
                event_id, sent_at = str(uuid.uuid4()), time.time()
                payload = {
                    "id": event_id,
                    "type": "bench.pipeline",
                    "ticket_id": self.ticket_id,
                    "audience": "everyone",
                    "occurred_at": "",
                    "data": {"key": f"{phase}-{n}", "sent_at": sent_at},
                }
                rows.append((event_id, self.ticket_id, json.dumps(payload)))
            with self.db("ticket") as conn:  # one transaction: committed on leaving the block
                conn.cursor().executemany(
                    "INSERT INTO hdms_outbox (id, type, ticket_id, payload, created_at, attempts, last_error) "
                    "VALUES (%s, 'bench.pipeline', %s, %s, now(), 0, '')",
                    rows,
                )
            return time.time()

        async def run():
            async with connect(url, subprotocols=["hdms", f"access_token.{self.token}"], max_queue=None) as ws:

                async def listen():
                    async for raw in ws:
                        message = json.loads(raw)
                        if message.get("type") == "bench.pipeline":
                            received[message["data"]["key"]] = time.time()

                listener = asyncio.create_task(listen())
                await asyncio.sleep(0.5)
                committed = await asyncio.to_thread(insert, "burst", range(burst))
                deadline = time.monotonic() + 120
                while sum(k.startswith("burst-") for k in received) < burst and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                drained = max((t for k, t in received.items() if k.startswith("burst-")), default=committed)
                sent: dict[str, float] = {}
                begin = time.monotonic()
                for n in range(rate * seconds):
                    await asyncio.sleep(max(0.0, begin + n / rate - time.monotonic()))
                    sent[f"steady-{n}"] = time.time()
                    await asyncio.to_thread(insert, "steady", range(n, n + 1))
                deadline = time.monotonic() + 30
                while any(k not in received for k in sent) and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                listener.cancel()
                return committed, drained, sent

        committed, drained, sent = asyncio.run(run())
        got = sum(k.startswith("burst-") for k in received)
        latencies = [(received[k] - t) * 1000 for k, t in sent.items() if k in received]
        result = {
            "burst": burst,
            "burst_received": got,
            "per_second": got / max(drained - committed, 1e-6),
            "rate": rate,
            "steady": len(sent),
            "steady_lost": len(sent) - len(latencies),
            "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99),
        }
        log(
            f"events pipeline: burst {got}/{burst} at {result['per_second']:.0f} events/s; steady {rate}/s: "
            f"p50 {result['p50']:.0f} ms p99 {result['p99']:.0f} ms, lost {result['steady_lost']}"
        )
        return result

    def celery_client(self):
        """A plain Celery client on the bench stack's broker role (JSON, the role's key prefix)."""
        from celery import Celery

        from hdms_platform.conf.catalogue import REDIS_KEY_PREFIX  # after HDMS_ENV_FILE names the bench stack

        broker = f"redis://hdms-broker:{self.values['REDIS_BROKER_PASSWORD']}@127.0.0.1:{self.values['REDIS_PORT']}/2"
        app = Celery("bench", broker=broker, backend=broker)
        prefix = {"global_keyprefix": REDIS_KEY_PREFIX["broker"]}
        app.conf.update(
            task_serializer="json",
            result_serializer="json",
            accept_content=["json"],
            broker_transport_options=prefix,
            result_backend_transport_options=prefix,
        )
        return app

    def celery(self) -> dict:
        tasks = 100 if self.args.smoke else 1000
        app = self.celery_client()
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

    def celery_settings(self) -> list[dict]:
        """No-op tasks/s of ONE worker process under each setting, side by side: a file-service
        worker (production settings and signal handlers) with concurrency 1 on a queue of its own,
        fed by one client as fast as it sends; the rate is tasks / time until the queue and the
        broker's unacknowledged set are both empty (polled every 5 ms)."""
        import redis

        from hdms_platform.conf.catalogue import REDIS_KEY_PREFIX

        tasks = 200 if self.args.smoke else 3000
        variants = [
            ("production: prefork, acks late, prefetch 1", "prefork", "acks_late", 1),
            ("prefork, acks late, prefetch 16", "prefork", "acks_late", 16),
            ("prefork, acks early, prefetch 1", "prefork", "acks_early", 1),
            ("prefork, acks early, prefetch 16", "prefork", "acks_early", 16),
            ("solo pool (no child process), acks late, prefetch 16", "solo", "acks_late", 16),
        ]
        prefix = REDIS_KEY_PREFIX["broker"]
        client = redis.Redis.from_url(
            f"redis://hdms-broker:{self.values['REDIS_BROKER_PASSWORD']}@127.0.0.1:{self.values['REDIS_PORT']}/2"
        )
        app = self.celery_client()

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
            metrics_dir = self.state / f"metrics-bench{index}"
            metrics_dir.mkdir(exist_ok=True)
            env = {
                **os.environ,
                "HDMS_SETTINGS": "prod",
                "PYTHONPATH": f"{REPO / 'bench'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
                "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            }
            with open(self.state / f"celery-bench{index}.log", "ab") as log_file:
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

    def uploads(self) -> dict:
        import httpx
        from PIL import Image

        rng = random.Random(7)
        noise = Image.frombytes("RGB", (190, 180), bytes(rng.getrandbits(8) for _ in range(190 * 180 * 3)))
        buffer = io.BytesIO()
        noise.save(buffer, "PNG")
        content = buffer.getvalue()  # ~100 KB of incompressible PNG
        base = f"http://127.0.0.1:{self.ports['file']}/api/v1/attachments/"
        headers = {"Authorization": f"Bearer {self.token}"}

        accepted: dict[str, float] = {}
        finished: dict[str, tuple[float, str]] = {}
        uploading = threading.Event()
        uploading.set()

        def one(_) -> None:
            response = httpx.post(
                base,
                headers=headers,
                data={"ticket_id": self.ticket_id},
                files={"file": ("noise.png", content, "image/png")},
                timeout=30,
            )
            accepted[response.json()["id"]] = time.monotonic()

        def watch() -> None:
            """One observer of the attachments' rows (every 10 ms, one query for all), not twenty
            clients polling the API: at 20 ms each those were ~1,000 requests/s on the same 2 cores
            as the worker they were timing."""
            with self.db("file", autocommit=True) as conn:
                while uploading.is_set() or len(finished) < len(accepted):
                    waiting = [key for key in accepted if key not in finished]
                    if waiting:
                        now = time.monotonic()
                        for key, status in conn.execute(
                            "SELECT id::text, status FROM attachments_attachment WHERE id = ANY(%s::uuid[]) "
                            "AND status IN ('ready', 'rejected')",
                            [waiting],
                        ):
                            finished[key] = (now, status)
                    time.sleep(0.01)

        observer = threading.Thread(target=watch, daemon=True)
        observer.start()
        rounds = 1 if self.args.smoke else UPLOAD_ROUNDS
        with Sampler(lambda: group_rss_mb(self.pid("worker"))) as rss, ThreadPoolExecutor(20) as pool:
            for turn in range(rounds):  # 20 at once, the next 20 once these are all done
                list(pool.map(one, range(20)))
                deadline = time.monotonic() + 60
                while turn < rounds - 1 and len(finished) < len(accepted) and time.monotonic() < deadline:
                    time.sleep(0.05)
            uploading.clear()
            observer.join(timeout=120)
        done = [((finished[key][0] - accepted[key]) * 1000, finished[key][1]) for key in accepted if key in finished]
        latencies = [ms for ms, _ in done]
        out = {
            "size": len(content),
            "rounds": rounds,
            "count": len(done),
            "ready": sum(s == "ready" for _, s in done),
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "worker_rss": rss.peak,
        }
        log(f"uploads: {rounds} x 20 x {len(content) // 1024} KB -> ready p50 {out['p50']:.0f} ms  p95 {out['p95']:.0f} ms")
        return out

    def memory_at_rest(self) -> dict:
        names = ("user", "ticket", "communication", "file", "worker", "events", "ticket-relay", "file-relay")
        return {name: group_rss_mb(self.pid(name)) for name in names}


# -- the report -----------------------------------------------------------------------------------


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = results["django"]
    labels = [
        "bare view",
        "detail\ncache hit",
        "detail\ncache miss",
        "list 50\ncached",
        "list 50\nuncached",
        "read via\nPgBouncer (32)",
        "read direct\n(32)",
    ]
    values = [
        d["floor"]["bare"]["rps"],
        d["floor"]["hit"]["rps"],
        d["floor"]["miss"]["rps"],
        d["list"]["cached"]["rps"],
        d["list"]["uncached"]["rps"],
        d["read"][32]["pooled"]["rps"],
        d["read"][32]["direct"]["rps"],
    ]
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    bars = ax.bar(labels, values, color=["#888", "#2a7", "#c63", "#2a7", "#c63", "#36c", "#999"])
    ax.bar_label(bars, fmt="%.0f", fontsize=8)
    ax.set_ylabel("requests / second (wrk, 32 connections)")
    ax.set_title(f"ticket-service on {os.cpu_count()} cores, gunicorn {WEB_WORKERS} workers x {WEB_THREADS} threads, one run")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def report(results: dict, args, output: Path) -> None:
    d, c, u, mem = results["django"], results["celery"], results["uploads"], results["memory"]
    f, fl = results["fanout"]["pubsub"], results["fanout"]["lists"]
    e, m, cs = results["events"], results["mixed"], results["celery_settings"]
    r512 = d["read"][512]
    chart_path = output.with_suffix(".png")
    chart(results, chart_path)
    cmd = "make bench" if not args.smoke else "bench/run.py --smoke"

    def row(name, r):
        return f"| {name} | {r['rps']:,.0f} | {r['p50']} | {r['p99']} | {r['errors']} | {r['backends']} |"

    read_ratio_32, hit_ratio, list_ratio = (
        d["read_ratio"],
        d["hit_ratio"],
        d["list_ratio"],
    )  # medians of alternating pairs (Bench.paired)
    all_met = (
        read_ratio_32 >= 0.95
        and r512["pooled"]["errors"] == 0
        and r512["pooled"]["backends"] <= 20
        and hit_ratio >= 0.85
        and list_ratio >= 3
        and f["p99"] < 100
        and f["lost"] == 0
        and u["p95"] < 500
    )
    lines = [
        "# Performance",
        "",
        f"Measured by `{cmd}` ({'smoke run: seconds-long scenarios, not a measurement' if args.smoke else 'the full run'}) on",
        f"{time.strftime('%Y-%m-%d')}, one run, {os.cpu_count()} cores shared by the servers *and* the load generators.",
        "Profiles behind these numbers: docs/performance-profiles.md.",
        "Every figure sits next to the one it is compared with; ratios survive a noisy machine far",
        "better than absolute numbers, which will differ on yours.",
        "",
        "Stack: production settings (`DEBUG=False`), PostgreSQL 15, PgBouncer 1.18 transaction pooling",
        f"(`default_pool_size=20`), Redis 7; ticket-service under gunicorn ({WEB_WORKERS} workers x {WEB_THREADS} threads, gthread),",
        f"communication-service under uvicorn ({WEB_WORKERS} workers), Celery worker concurrency {CELERY_CONCURRENCY}. Load: `wrk -t2",
        f"-c<N> -d{args.seconds}s --latency` with a bearer token; data: `seed_bench_data` (5,000 tickets, 15,000 comments).",
        "",
        "![requests per second](performance.png)",
        "",
        "## Targets",
        "",
        "Levers: what got each row there (before and after: docs/performance-profiles.md).",
        "",
        "| target | measured | | levers |",
        "|---|---|---|---|",
        f"| Django read through PgBouncer >= 0.95x direct at 32 clients | {read_ratio_32:.3f}x | {verdict(read_ratio_32 >= 0.95)} | {WEB_WORKERS} gunicorn workers per service (2 x cores) fill the hop's wait; a health check that asks the socket, not `SELECT 1` |",
        f"| 512 clients: 0 errors, PostgreSQL backends <= pool size (20) | {r512['pooled']['errors']} errors, "
        f"{r512['pooled']['backends']} backends | {verdict(r512['pooled']['errors'] == 0 and r512['pooled']['backends'] <= 20)} | transaction pooling; a service holds one connection per thread at most |",
        f"| cached ticket detail >= 0.85x the bare Django view | {hit_ratio:.3f}x | {verdict(hit_ratio >= 0.85)} | answered from memory without DRF's dispatch (`hdms_platform.web.fastpath`); per-process copies kept coherent by Redis tracking; verified tokens kept per process; the access log off the request thread; balanced workers (`--reuse-port`) |",
        f"| cached list >= 3x uncached | {list_ratio:.3f}x | {verdict(list_ratio >= 3)} | the page and its list generation token copied per process (no Redis round trip) |",
        f"| fan-out p99 < 100 ms with 0 lost | p99 {f['p99']:.1f} ms, {f['lost']} lost | {verdict(f['p99'] < 100 and f['lost'] == 0)} | one PUBLISH per group, fanned out per process (pub/sub layer); events handed to idle sockets without a dispatch; no per-message deflate |",
        f"| upload -> ready p95 < 500 ms | {u['p95']:.0f} ms | {verdict(u['p95'] < 500)} | the task sent at commit (the outbox relay as safety net); timed by one observer, not 20 polling clients |",
        "",
        *(["Where a target is not met, what is known of why:"] if not all_met else []),
        *(
            [
                "- **read through PgBouncer vs direct**: each query takes one more hop, and PgBouncer's own CPU",
                "  (measured 50-75 us per query) comes out of the same 2 cores as the services' and wrk's; reaching",
                "  PgBouncer over a Unix socket instead of TCP did not change it (docs/performance-profiles.md).",
            ]
            if read_ratio_32 < 0.95
            else []
        ),
        *(
            [
                "- **cached list**: a hit renders up to 50 tickets through DRF; the uncached side's speed moves",
                "  with PostgreSQL's share of the 2 cores; see the pair ratios below.",
            ]
            if list_ratio < 3
            else []
        ),
        *(
            [
                "- **cached detail vs bare view**: a hit's own Python is now ~60 us more than the bare view's (its",
                "  URL, the answer from memory); the rest is its threads waiting for the GIL around each response",
                "  write; see docs/performance-profiles.md.",
            ]
            if hit_ratio < 0.85
            else []
        ),
        *(
            [
                "- **fan-out**: the deliveries are CPU-bound on 2 cores: each costs one socket write in a uvicorn",
                "  worker and one read in a client process (the loopback TCP path on both sides), see the table below.",
            ]
            if not (f["p99"] < 100 and f["lost"] == 0)
            else []
        ),
        *(
            [
                "- **upload -> ready**: 20 simultaneous uploads meet 2 worker processes, so the last ones queue",
                "  behind the first; each task also verifies the image twice with Pillow and writes a thumbnail.",
            ]
            if u["p95"] >= 500
            else []
        ),
        "",
        "## One indexed read: through PgBouncer vs direct",
        "",
        "`GET /api/v1/tickets/<id>/` on the uncached instances: token check, one primary-key SELECT,",
        "serialisation. `direct` is the bench-only switch `HDMS_BENCH_DB=direct` (PostgreSQL's Unix socket).",
        "Backends: peak PostgreSQL backends serving that side, sampled every 0.2 s (PgBouncer: its server",
        "connections from `SHOW SERVERS`; direct: every other client backend on `hdms_ticket`).",
        "",
        "| instance | req/s | p50 ms | p99 ms | errors | PG backends |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for clients in (32, 512):
        for name in ("pooled", "direct"):
            lines.append(row(f"{'PgBouncer' if name == 'pooled' else 'direct'}, {clients} clients", d["read"][clients][name]))
    lines += [
        "",
        f"Ratio PgBouncer / direct: **{read_ratio_32:.3f}x** at 32 clients (direct and PgBouncer taking turns, {PAIRS}",
        f"runs of {PAIR_SECONDS} s each in A B B A order, the ratio of their mean req/s; single pairs: {', '.join(f'{r:.2f}' for r in d['read'][32]['pooled']['pair_ratios'])}),",
        f"**{ratio(r512['pooled']['rps'], r512['direct']['rps'])}** at 512.",
        f"The services hold at most {WEB_WORKERS * WEB_THREADS} connections each (one per gunicorn thread), so 512 clients",
        "queue in gunicorn, not in PostgreSQL; PgBouncer's benefit shows when many service processes",
        "share the database (the pgbench table below), its cost is one local hop per query.",
        "",
        "## The framework's floor, cache hit and miss; list pages",
        "",
        "| scenario (32 clients) | req/s | p50 ms | p99 ms | errors | PG backends |",
        "|---|---:|---:|---:|---:|---:|",
        row("bare Django JSON view (no auth, no DRF, no DB)", d["floor"]["bare"]),
        row("ticket detail, cache hit", d["floor"]["hit"]),
        row("ticket detail, cache miss (PostgreSQL)", d["floor"]["miss"]),
        row("ticket list, 50 per page, cached", d["list"]["cached"]),
        row("ticket list, 50 per page, uncached", d["list"]["uncached"]),
        "",
        f"Cache hit / bare view: **{hit_ratio:.3f}x**; hit / miss: **{ratio(d['floor']['hit']['rps'], d['floor']['miss']['rps'])}**; "
        f"cached / uncached list: **{list_ratio:.3f}x**.",
        f"Bare view and cache hit took turns, {PAIRS} runs of {PAIR_SECONDS} s each in A B B A order, as did the two list",
        f"instances; each ratio is of the two sides' mean req/s (single pairs, hit / bare: {', '.join(f'{r:.2f}' for r in d['floor']['hit']['pair_ratios'])};",
        f"list: {', '.join(f'{r:.2f}' for r in d['list']['cached']['pair_ratios'])}; req/s: the mean of the runs;",
        "p50/p99: the worst run). This machine's speed moves by a third or more within seconds (a plain",
        "Python loop: 1.7x between half-seconds), which is what single pairs show, not the code.",
        "Levers behind the hit (docs/performance-profiles.md): verified tokens kept per process until they",
        "expire; the ticket's cached entry copied in each process and dropped the moment Redis' key-space",
        "tracking says its key changed (`hdms_platform.cache.copies`), so a hit makes no Redis round trip; the",
        "access log written by one thread per process from a queue, so request threads no longer wait on",
        "each other's log line; a plain JSON GET by a token this process has verified, for a ticket it holds",
        "a copy of, answered without DRF's dispatch (`hdms_platform.web.fastpath`: DRF's own bytes and headers;",
        "every other request, refusals included, goes through DRF); the services' own URLs listed before the",
        "platform's. What is left between the two: docs/performance-profiles.md.",
        "A cached list page is copied per process the same way, and so is the list generation token its key",
        "embeds (tracked apart from the details, so a list miss storing a page never stops details being",
        "copied): a list hit makes no Redis round trip either, where it made two.",
        "",
        "## Mixed helpdesk workload",
        "",
        f"`wrk -c64 -s bench/mixed.lua` on the cached ticket-service: {m['users']} users (3 customers on their own tickets,",
        "2 agents, an admin), each request drawn at random: 50% ticket detail, 25% list page (25 per page),",
        "10% a ticket's comments, ~12% writes (a comment; for staff, 5% priority changes). Writes retire",
        "cached entries and feed the outbox, the relay and the events worker while the reads go on.",
        "",
        "| scenario (64 clients) | req/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|",
        f"| mixed helpdesk workload | {m['mixed']['rps']:,.0f} | {m['mixed']['p50']} | {m['mixed']['p99']} | {m['mixed']['errors']} |",
        f"| bare Django JSON view | {m['bare']['rps']:,.0f} | {m['bare']['p50']} | {m['bare']['p99']} | {m['bare']['errors']} |",
        "",
        f"Mixed / bare: **{ratio(m['mixed']['rps'], m['bare']['rps'])}**.",
        "",
        "## WebSocket fan-out",
        "",
        f"{f['subscribers']} sockets on one ticket (agent tokens), {f['rate']} events/s for {f['events'] // f['rate']} s published on the channel",
        "layer (after one uncounted warm-up event); latency from publish to receipt, per delivery (one clock). A",
        "delivery counts as lost if it has not arrived 15 s after the last publish. The sockets are held by",
        f"{f['clients']} client processes (bench/fanout_client.py, uvloop), separate from the server and on the same",
        "2 cores: their CPU use is in the table, as the server's (uvicorn master + workers), in cores busy.",
        "",
        "| channel layer | events | deliveries | lost | p50 ms | p99 ms | slowest event's last delivery | client CPU | server CPU | server RSS peak |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {name} | {r['events']} | {r['deliveries']:,} | {r['lost']} | {r['p50']:.1f} | {r['p99']:.1f} | "
            f"{max(r['last_delivery'], default=0):.0f} ms | {r['client_cpu']:.2f} | {r['server_cpu']:.2f} | {r['rss']:.0f} MiB |"
            for name, r in (
                ("pub/sub (production: hdms_platform.events.channel_layer)", f),
                ("lists (channels_redis.core, rejected)", fl),
            )
        ),
        "",
        "Levers, each profiled with py-spy on the uvicorn workers (docs/performance-profiles.md): the pub/sub layer",
        "(one PUBLISH per event, fanned out in each process, instead of one sorted-set entry per socket popped one",
        "round trip at a time; the list layer also drops deliveries past its per-process capacity of 1,000, the",
        "`lost` above); group messages skip channels' per-message hop to the sync thread (`close_old_connections`);",
        "one loop per source in the consumer instead of a task and an `asyncio.wait` per message; a group message",
        "decoded once and its JSON encoded once per process; no per-message deflate; a live event written to each",
        "idle socket straight from the layer's receive loop (`PubSubChannelLayer.listen`, `TicketConsumer.deliver_now`:",
        "no task step, queue hand-off or dispatch per socket; a busy consumer still gets it in order through its",
        "queue). What remains is one socket write per delivery, two thirds of a worker's fan-out samples.",
        "",
        "## Events pipeline: outbox row to socket",
        "",
        "Rows written to ticket-service's outbox (as a write's transaction does), published by its relay, stored in",
        "order and broadcast by the one events worker (concurrency 1), received by one agent's socket. The burst",
        "commits all rows in one transaction and measures the drain: the ceiling of one relay + one events worker.",
        "The steady rate writes one row per transaction; latency is from the write to the socket's receipt.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| burst of {e['burst']} events, drained | {e['per_second']:.0f} events/s ({e['burst_received']}/{e['burst']} received) |",
        f"| steady {e['rate']} events/s for {e['steady'] // max(e['rate'], 1)} s, outbox row to socket | p50 {e['p50']:.0f} ms, "
        f"p99 {e['p99']:.0f} ms, {e['steady_lost']} lost |",
        "",
        "## Celery",
        "",
        "| measure | value |",
        "|---|---|",
        f"| no-op task throughput (`hdms.file.ping`, results on Redis) | {c['per_second']:.0f} tasks/s, "
        f"{c['per_process']:.0f} per worker process ({c['tasks']} tasks, concurrency {CELERY_CONCURRENCY}) |",
        f"| upload -> ready, {u['rounds']} rounds of 20 concurrent {u['size'] // 1024} KB PNG uploads | p50 {u['p50']:.0f} ms, p95 {u['p95']:.0f} ms "
        f"({u['ready']}/{u['count']} ready) |",
        "",
        "Upload -> ready: from the upload's 201 to its row being `ready`, seen by one observer querying",
        "the rows every 10 ms (until this stop twenty clients polled the API every 20 ms, ~1,000 requests/s",
        "on the cores the worker needs: they slowed what they timed). It includes the broker hop (the",
        "upload enqueues on commit; the outbox relay is the safety net), hashing, Pillow verification and",
        "the thumbnail, with two worker processes for twenty simultaneous uploads. Each round starts once",
        "the one before is done; p50/p95 are over every upload of every round (one round's p95 was its",
        "19th of 20 uploads, a single slow moment of this machine).",
        "",
        "### One worker process, no-op tasks, by setting",
        "",
        "A file-service worker with the production settings and signal handlers (metrics, access log,",
        "request ids, connection upkeep) at concurrency 1 on a queue of its own; one client sends",
        f"{cs[0]['tasks']} tasks without results as fast as it can; tasks/s until the queue and the broker's",
        "unacknowledged set are empty. Only the pool, the prefetch and the task's acknowledgement differ.",
        "",
        "| setting | tasks/s per process |",
        "|---|---:|",
        *[f"| {r['label']} | {r['per_second']:.0f} |" for r in cs],
        "",
        "Where the time goes (docs/performance-profiles.md): kombu's Redis transport records each message as",
        "unacknowledged and acknowledges it with two MULTI/EXEC transactions and a new client object each,",
        "whatever the acknowledgement mode; that, not the task or our signal handlers (~9%), caps a process.",
        "The choice per queue stays the production one: `hdms.file` (image decoding: prefork so a crashing",
        "decoder or a time limit kills a child, not the consumer; acks late so a dead worker's upload is",
        "redelivered; prefetch 1 for long tasks), `hdms.communication` (the events worker: ~9 ms of its own",
        "work per event, so Celery's 2-5 ms is not its limit; the solo pool measured slower there, prefetch 8",
        "+8% for up to 8 events held by a dead worker), `hdms.ticket` / `hdms.user` (retention and resend",
        "requests, a few per hour). No queue here needs 500 no-op tasks/s per process.",
        "",
        "## Resident memory (process group: master + workers)",
        "",
        "| process | at rest | under load (peak) |",
        "|---|---:|---:|",
        f"| ticket-service (cached instance) | {mem['cached']:.0f} MiB | {d['floor']['hit']['rss']:.0f} MiB |",
        f"| communication-service | {mem['communication']:.0f} MiB | {f['rss']:.0f} MiB |",
        f"| file worker (Celery) | {mem['worker']:.0f} MiB | {u['worker_rss']:.0f} MiB |",
    ]
    lines += [f"| {name} | {mem[name]:.0f} MiB | |" for name in ("user", "file", "events", "ticket-relay", "file-relay")]
    lines += [
        "",
        "## pgbench select-only: direct (Unix socket) vs through PgBouncer",
        "",
        f"`pgbench -S -n -j 2 -T {args.seconds}`, scale 10, `max_connections = 600` for this run so the direct side can take",
        "500 clients at all; without PgBouncer the default 100 refuses client 101 outright.",
        "",
        "| clients | direct tps | through PgBouncer tps | PgBouncer / direct | failed (direct / pooled) |",
        "|---:|---:|---:|---:|---|",
    ]
    for clients, dd, pp in results["pgbench"]:
        lines.append(
            f"| {clients} | {dd['tps']:,.0f} | {pp['tps']:,.0f} | {ratio(pp['tps'], dd['tps'])} | "
            f"{dd['failed'] or 0} / {pp['failed'] or 0} |"
        )
    lines += ["", "Raw figures: `docs/performance.json`.", ""]
    output.write_text("\n".join(lines))
    output.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true", help="seconds-long scenarios, small data: keeps the bench from rotting")
    parser.add_argument("--seconds", type=int, default=None)
    parser.add_argument("--output", default=str(REPO / "docs" / "performance.md"))
    parser.add_argument(
        "--only", default="", help="comma-separated scenarios (e.g. fanout,django): print their results, write no report"
    )
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (2 if args.smoke else 10)
    ensure_wrk()
    started = time.monotonic()
    bench = Bench(args)
    if args.only:
        try:
            bench.start()
            for name in args.only.split(","):
                print(json.dumps({name: getattr(bench, name)()}, indent=1, default=str))
        finally:
            bench.stop()
        return 0
    try:
        bench.start()
        results = {"memory": {**bench.memory_at_rest(), "cached": group_rss_mb(bench.pid("cached"))}}
        results["pgbench"] = bench.pgbench()
        results["django"] = bench.django()
        results["fanout"] = bench.fanout()
        results["events"] = bench.events_pipeline()
        results["celery"] = bench.celery()
        results["celery_settings"] = bench.celery_settings()
        results["uploads"] = bench.uploads()
        results["mixed"] = bench.mixed()  # last: its writes leave the relay and the events worker busy for a while
    finally:
        bench.stop()
    report(results, args, Path(args.output))
    log(f"wrote {args.output} in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
