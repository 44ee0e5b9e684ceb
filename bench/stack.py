"""The bench's private production-like stack and how scenarios reach it: three ticket-service
instances side by side (cached, pooled, direct), the programs, wrk runs against them, paired runs."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from bench.measure import (
    CELERY_CONCURRENCY,
    GUNICORN,
    PAIR_SECONDS,
    PAIRS,
    PY,
    WEB_THREADS,
    WEB_WORKERS,
    Sampler,
    combined,
    group_rss_mb,
    log,
    wrk,
)
from hdms_tools.privatestack import PrivateStack, free_ports
from hdms_tools.stack import REPO, SERVICES, wait_until


class Bench:
    def __init__(self, args):
        self.args = args
        services = SERVICES
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
