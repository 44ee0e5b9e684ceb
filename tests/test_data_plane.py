"""The data plane itself: PgBouncer is the only door, roles are fenced, Redis is split by role."""

import subprocess
import threading
import time
import uuid

import psycopg
import pytest
import redis

from hdms_platform.conf.catalogue import REDIS_DB
from hdms_tools.stack import RUN_AS_DEFAULT

from .conftest import db_connect

SERVICES = ("user", "ticket", "communication", "file")


connect = db_connect


@pytest.mark.parametrize("service", SERVICES)
def test_each_role_reaches_its_own_database_only(stack_env, service):
    with connect(stack_env, service) as conn:
        assert conn.execute("SELECT current_database(), current_user").fetchone() == (f"hdms_{service}", f"hdms_{service}")
    other = SERVICES[(SERVICES.index(service) + 1) % len(SERVICES)]
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        connect(stack_env, service, dbname=f"hdms_{other}")


def test_wrong_password_is_refused(stack_env):
    with pytest.raises(psycopg.OperationalError, match=r"password authentication failed|SASL authentication failed"):
        psycopg.connect(
            host="127.0.0.1",
            port=stack_env["PGBOUNCER_PORT"],
            dbname="hdms_user",
            user="hdms_user",
            password="wrong-password",
            connect_timeout=3,
        )


def test_postgresql_has_no_tcp_listener(stack_env, run_dir):
    listeners = subprocess.run(["ss", "-H", "-ltnp"], capture_output=True, text=True, check=True).stdout
    assert "postgres" not in listeners
    assert "pgbouncer" in listeners
    assert (run_dir / f".s.PGSQL.{stack_env.get('POSTGRES_PORT', '5432')}").is_socket()


def admin(stack_env):
    return psycopg.connect(
        host="127.0.0.1",
        port=stack_env["PGBOUNCER_PORT"],
        dbname="pgbouncer",
        user=stack_env["PGBOUNCER_ADMIN_USER"],
        password=stack_env["PGBOUNCER_ADMIN_PASSWORD"],
        autocommit=True,
        cursor_factory=psycopg.ClientCursor,
        connect_timeout=3,
    )


def test_admin_console_answers_show_pools(stack_env):
    for service in SERVICES:  # make sure every application pool exists
        with connect(stack_env, service) as conn:
            conn.execute("SELECT 1")
    with admin(stack_env) as conn, conn.cursor() as cur:
        cur.execute("SHOW POOLS")
        columns = [c.name for c in cur.description]
        pools = {(r["database"], r["user"]): r for r in (dict(zip(columns, row, strict=True)) for row in cur.fetchall())}
    for service in SERVICES:
        pool = pools[(f"hdms_{service}", f"hdms_{service}")]
        assert pool["pool_mode"] == "transaction"


def backend_count(run_dir, stack_env) -> int:
    out = subprocess.run(
        [
            "runuser",
            "-u",
            RUN_AS_DEFAULT,
            "--",
            "psql",
            "-X",
            "-At",
            "-h",
            str(run_dir),
            "-p",
            stack_env.get("POSTGRES_PORT", "5432"),
            "-d",
            "postgres",
            "-c",
            "SELECT count(*) FROM pg_stat_activity WHERE datname = 'hdms_file' AND usename = 'hdms_file'",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out.strip())


def test_500_clients_through_pgbouncer_without_errors_or_extra_backends(stack_env, run_dir):
    from hdms_tools.stack import find_postgres_bindir

    env = {"PGPASSWORD": stack_env["FILE_DB_PASSWORD"], "PATH": f"{find_postgres_bindir()}:/usr/bin:/bin"}
    common = ["-h", "127.0.0.1", "-p", stack_env["PGBOUNCER_PORT"], "-U", "hdms_file"]
    init = subprocess.run(
        ["pgbench", "-i", "-s", "1", "-q", *common, "hdms_file_session"], env=env, capture_output=True, text=True
    )
    assert init.returncode == 0, init.stderr
    with admin(stack_env) as conn:  # close pgbench -i's idle session-mode server connections
        conn.execute("KILL hdms_file_session")
        conn.execute("RESUME hdms_file_session")
    samples, stop = [], threading.Event()

    def sample():
        while not stop.is_set():
            samples.append(backend_count(run_dir, stack_env))
            time.sleep(0.3)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        bench = subprocess.run(
            ["pgbench", "-S", "-n", "-c", "500", "-j", "2", "-T", "10", *common, "hdms_file"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        stop.set()
        sampler.join()
        subprocess.run(
            [
                "psql",
                "-X",
                "-q",
                *common,
                "-d",
                "hdms_file_session",
                "-c",
                "DROP TABLE IF EXISTS pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers",
            ],
            env=env,
        )
    assert bench.returncode == 0, bench.stderr[-2000:]
    assert "number of failed transactions: 0" in bench.stdout
    assert "number of clients: 500" in bench.stdout
    assert samples and max(samples) <= int(stack_env["PGBOUNCER_POOL_SIZE"]), samples


def test_redis_refuses_an_unauthenticated_client(stack_env):
    client = redis.Redis(host="127.0.0.1", port=int(stack_env["REDIS_PORT"]), socket_timeout=2)
    with pytest.raises(redis.exceptions.AuthenticationError):
        client.ping()
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=int(stack_env["REDIS_PORT"]), password="wrong", socket_timeout=2).ping()


def test_redis_policy_never_evicts_broker_data(stack_env):
    client = redis.Redis(
        host="127.0.0.1", port=int(stack_env["REDIS_PORT"]), username="hdms-admin", password=stack_env["REDIS_ADMIN_PASSWORD"]
    )
    policy = client.config_get("maxmemory-policy")["maxmemory-policy"]
    assert policy.startswith("volatile-") or policy == "noeviction"
    assert int(client.config_get("maxmemory")["maxmemory"]) > 0


def test_three_roles_land_in_db_0_1_2(stack_env):
    from tests.conftest import manage

    key = f"roles-{uuid.uuid4().hex}"
    result = manage("ticket", "shell", "-c", f"from django.core.cache import cache; cache.set('{key}', 1, 60)")
    assert result.returncode == 0, result.stderr
    admin = {"username": "hdms-admin", "password": stack_env["REDIS_ADMIN_PASSWORD"]}  # KEYS is for operators only
    port = int(stack_env["REDIS_PORT"])
    dbs = {role: redis.Redis(host="127.0.0.1", port=port, db=db, **admin) for role, db in REDIS_DB.items()}
    assert dbs["cache"].keys(f"cache:ticket:*:{key}")
    assert not dbs["channels"].keys(f"*{key}") and not dbs["broker"].keys(f"*{key}")
    assert dbs["cache"].ttl(dbs["cache"].keys(f"*{key}")[0]) > 0

    import asyncio

    from hdms_platform.events.channel_layer import standalone

    async def join() -> list[bytes]:  # pub/sub: the group is a subscription while a channel is in it
        layer = standalone("communication")
        channel = await layer.new_channel()
        await layer.group_add(f"roles-{key}", channel)
        subscribed = dbs["channels"].pubsub_channels(f"*roles-{key}*")
        await layer.flush()
        return subscribed

    assert [c.decode() for c in asyncio.run(join())] == [f"channels:communication__group__roles-{key}"]
    assert not dbs["cache"].keys(f"*roles-{key}*") and not dbs["channels"].keys(f"*roles-{key}*")
    # the worker declared its queue on the broker db
    assert dbs["broker"].exists("broker:_kombu.binding.hdms.file")
