"""Security guarantees (issue 13), each over real HTTP / WebSockets / Redis against the private stack.

Every test here failed on the code before its fix; docs/operations.md (Security) maps each
guarantee to its test.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis

from hdms_platform.processes import commands
from hdms_platform.stack import Config, port_in_use, read_pid
from hdms_platform.testrun import free_ports

from .conftest import manage
from .helpdesk import PASSWORD, Helpdesk

RCE_MARKER = Path("/tmp") / f"hdms-pickle-ran-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def desk(stack_env) -> Helpdesk:
    assert manage("user", "seed_dev_data").returncode == 0
    return Helpdesk(stack_env)


def redis_client(stack_env, role: str = "admin", db: int = 0) -> redis.Redis:
    """A client with one of the stack's Redis credentials (admin, cache, channels, broker)."""
    return redis.Redis(
        host="127.0.0.1",
        port=int(stack_env["REDIS_PORT"]),
        db=db,
        username=f"hdms-{role}",
        password=stack_env[f"REDIS_{role.upper()}_PASSWORD"],
        socket_timeout=5,
    )


@pytest.fixture
def extra_user_service(stack_env):
    """A second user-service (same database and Redis) with its own settings, on a free port."""
    started: list[subprocess.Popen] = []

    def start(**overrides: str) -> str:
        # every test signs in from 127.0.0.1: start this instance's low address limit from zero
        reset = "from hdms_platform.models import RateCounter; RateCounter.objects.filter(key__startswith='login-address:').delete()"
        assert manage("user", "shell", "-c", reset).returncode == 0
        (port,) = free_ports(1)
        argv, cwd, _ = commands(Config.load())["user"]
        argv = [a if a != f"127.0.0.1:{stack_env['USER_SERVICE_PORT']}" else f"127.0.0.1:{port}" for a in argv]
        env = {**os.environ, **overrides, "USER_SERVICE_PORT": str(port)}
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(process)
        deadline = time.monotonic() + 30
        while not port_in_use("127.0.0.1", port):
            assert process.poll() is None and time.monotonic() < deadline, "the extra user-service did not start"
            time.sleep(0.1)
        return f"http://127.0.0.1:{port}"

    yield start
    for process in started:
        process.terminate()
        process.wait(10)


def _sign_in(url: str, email: str, password: str, **headers: str) -> int:
    return httpx.post(f"{url}/api/v1/auth/login/", json={"email": email, "password": password}, headers=headers, timeout=10).status_code


# -- 1. the client address is not the client's to choose ------------------------------------------


def test_a_spoofed_x_forwarded_for_does_not_escape_the_address_limit(extra_user_service):
    url = extra_user_service(LOGIN_MAX_ATTEMPTS_PER_ADDRESS="3", TRUSTED_PROXY_COUNT="0")
    codes = [
        _sign_in(url, f"nobody-{i}@example.com", "wrong-password-1", **{"X-Forwarded-For": f"198.51.100.{i}"})
        for i in range(6)
    ]
    assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429, 429], codes


def test_behind_one_proxy_only_the_address_it_appended_counts(extra_user_service):
    url = extra_user_service(LOGIN_MAX_ATTEMPTS_PER_ADDRESS="3", TRUSTED_PROXY_COUNT="1")
    spoofed = [
        _sign_in(url, f"x-{i}@example.com", "wrong-password-1", **{"X-Forwarded-For": f"10.9.9.{i}, 203.0.113.7"})
        for i in range(4)
    ]
    other_client = _sign_in(url, "y@example.com", "wrong-password-1", **{"X-Forwarded-For": "203.0.113.8"})
    assert spoofed == [401, 401, 401, 429] and other_client == 401, (spoofed, other_client)


# -- 2. sign-in limits: atomic under bursts, and not in the evictable cache ------------------------


def test_a_parallel_burst_of_wrong_passwords_gets_at_most_the_limit_of_401s(desk, stack_env):
    customer = desk.customer()
    limit = int(stack_env.get("LOGIN_MAX_FAILURES_PER_ACCOUNT", 5))
    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(lambda i: _sign_in(desk.urls["user"], customer.email, f"wrong-{i}-password"), range(32)))
    assert codes.count(401) <= limit and codes.count(401) + codes.count(429) == len(codes), sorted(codes)
    assert _sign_in(desk.urls["user"], customer.email, PASSWORD) == 429  # locked, even with the right password


def test_sign_in_limits_survive_cache_eviction(desk, stack_env):
    customer = desk.customer()
    limit = int(stack_env.get("LOGIN_MAX_FAILURES_PER_ACCOUNT", 5))
    for i in range(limit):
        assert _sign_in(desk.urls["user"], customer.email, f"wrong-{i}-password") == 401
    admin, cache = redis_client(stack_env), redis_client(stack_env, "cache")
    evicted_before = admin.info("stats")["evicted_keys"]
    maxmemory = admin.config_get("maxmemory")["maxmemory"]
    chunk = b"x" * (1024 * 1024)
    fill = int(maxmemory) * 5 // 2 // len(chunk)  # 2.5 times what fits: Redis's sampled LRU must evict nearly all
    pipe = cache.pipeline(transaction=False)
    for i in range(fill):
        pipe.set(f"cache:ticket:fill:{i}", chunk, ex=60)
        if i % 16 == 15:
            pipe.execute()
    pipe.execute()
    assert admin.info("stats")["evicted_keys"] > evicted_before
    admin.delete(*[f"cache:ticket:fill:{i}" for i in range(fill)])
    assert _sign_in(desk.urls["user"], customer.email, PASSWORD) == 429


# -- 4. nothing in Redis is ever unpickled -----------------------------------------------------------


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {RCE_MARKER}",))


def test_a_pickle_planted_in_the_cache_is_not_executed_and_reads_as_a_miss(desk, stack_env):
    customer = desk.customer()
    ticket = desk.ticket(customer, "pickle target")
    assert desk.call("ticket", "GET", f"/api/v1/tickets/{ticket['id']}/", customer).status_code == 200  # now cached
    cache = redis_client(stack_env, "cache")
    keys = [k for k in cache.scan_iter(match=f"cache:ticket:*tickets:detail:{ticket['id']}", count=1000)]
    assert keys, "the detail page was not cached where expected"
    cache.set(keys[0], pickle.dumps(_Exploit()), ex=60)
    response = desk.call("ticket", "GET", f"/api/v1/tickets/{ticket['id']}/", customer)
    assert not RCE_MARKER.exists(), "a pickle planted in Redis was executed by ticket-service"
    assert response.status_code == 200 and response.json()["subject"] == "pickle target", response.text
    log = Path(stack_env["HDMS_DATA_DIR"]) / "log" / "ticket.log"
    assert "unreadable cache value" in log.read_text()


# -- 5. least privilege in Redis ---------------------------------------------------------------------


def test_each_redis_credential_reaches_only_its_own_keys_and_no_dangerous_command(stack_env):
    admin = redis_client(stack_env, "admin", db=2)
    admin.set("broker:probe", "queued", ex=60)
    for role, db, own in (("cache", 0, "cache:probe"), ("channels", 1, "channels:probe"), ("broker", 2, "broker:probe2")):
        client = redis_client(stack_env, role, db=db)
        assert client.set(own, "1", ex=10) and client.get(own) == b"1"
        for command in (("FLUSHALL",), ("FLUSHDB",), ("KEYS", "*"), ("CONFIG", "GET", "*"), ("SHUTDOWN",), ("MODULE", "LIST")):
            with pytest.raises(redis.exceptions.NoPermissionError):
                client.execute_command(*command)
        with pytest.raises(redis.exceptions.ResponseError, match="NOPERM|not allowed"):  # DEBUG is off server-wide too
            client.execute_command("DEBUG", "SLEEP", "0")
    cache = redis_client(stack_env, "cache", db=2)
    with pytest.raises(redis.exceptions.NoPermissionError):
        cache.get("broker:probe")  # another role's keys, even on the broker's database
    with pytest.raises(redis.exceptions.NoPermissionError):
        cache.set("broker:probe", "poisoned")
    assert admin.get("broker:probe") == b"queued"


def test_the_default_user_and_the_old_shared_password_are_refused(stack_env):
    for password in (None, stack_env["REDIS_CACHE_PASSWORD"]):
        client = redis.Redis(host="127.0.0.1", port=int(stack_env["REDIS_PORT"]), password=password, socket_timeout=5)
        with pytest.raises((redis.exceptions.AuthenticationError, redis.exceptions.ResponseError)):
            client.ping()
