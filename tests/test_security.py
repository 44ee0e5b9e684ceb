"""Security guarantees (issue 13), each over real HTTP / WebSockets / Redis against the private stack.

Every test here failed on the code before its fix; docs/operations.md (Security) maps each
guarantee to its test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
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
from websockets.exceptions import ConnectionClosed

from hdms_tools.privatestack import free_ports
from hdms_tools.processes import commands
from hdms_tools.stack import Config, port_in_use, read_pid

from .conftest import db_connect, manage
from .helpdesk import PASSWORD, Helpdesk, Person, close_code, next_message, upload, wait_status

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
def extra_service(stack_env):
    """A second instance of a service (same database and Redis) with its own settings, on a free port."""
    started: list[subprocess.Popen] = []

    def start(service: str, **overrides: str) -> str:
        # every test signs in from 127.0.0.1, as few users: this instance's low limits start from zero
        reset = "from hdms_platform.models import RateCounter; RateCounter.objects.all().delete()"
        assert manage(service, "shell", "-c", reset).returncode == 0
        (port,) = free_ports(1)
        variable = f"{service.upper()}_SERVICE_PORT"
        argv, cwd, _ = commands(Config.load())[service]
        argv = [
            a.replace(f"127.0.0.1:{stack_env[variable]}", f"127.0.0.1:{port}") if a != stack_env[variable] else str(port)
            for a in argv
        ]
        env = {**os.environ, **overrides, variable: str(port)}
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(process)
        deadline = time.monotonic() + 30
        while not port_in_use("127.0.0.1", port):
            assert process.poll() is None and time.monotonic() < deadline, f"the extra {service}-service did not start"
            time.sleep(0.1)
        return f"http://127.0.0.1:{port}"

    yield start
    for process in started:
        process.terminate()
        process.wait(10)


def _sign_in(url: str, email: str, password: str, **headers: str) -> int:
    return httpx.post(
        f"{url}/api/v1/auth/login/", json={"email": email, "password": password}, headers=headers, timeout=10
    ).status_code


# -- 1. the client address is not the client's to choose ------------------------------------------


def test_a_spoofed_x_forwarded_for_does_not_escape_the_address_limit(extra_service):
    url = extra_service("user", LOGIN_MAX_ATTEMPTS_PER_ADDRESS="3", TRUSTED_PROXY_COUNT="0")
    codes = [
        _sign_in(url, f"nobody-{i}@example.com", "wrong-password-1", **{"X-Forwarded-For": f"198.51.100.{i}"}) for i in range(6)
    ]
    assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429, 429], codes


def test_behind_one_proxy_only_the_address_it_appended_counts(extra_service):
    # This test plays the proxy: its own address is the trusted one.
    url = extra_service("user", LOGIN_MAX_ATTEMPTS_PER_ADDRESS="3", TRUSTED_PROXY_COUNT="1", TRUSTED_PROXIES="127.0.0.1")
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


# -- 3. per-user write limits -----------------------------------------------------------------------


def test_a_users_writes_past_the_limit_get_429_with_retry_after_and_store_nothing(desk, extra_service):
    url = extra_service("ticket", WRITES_PER_USER_PER_MINUTE="5")
    customer, other = desk.customer(), desk.customer()

    def create(who, subject: str) -> httpx.Response:
        return httpx.post(
            f"{url}/api/v1/tickets/",
            json={"subject": subject},
            headers={"Authorization": f"Bearer {who.token}"},
            timeout=10,
        )

    with ThreadPoolExecutor(8) as pool:  # a parallel burst: the count is atomic
        codes = sorted(r.status_code for r in pool.map(lambda i: create(customer, f"burst {i}"), range(8)))
    assert codes == [201] * 5 + [429] * 3, codes
    refused = create(customer, "one more")
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "throttled", refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert create(other, "another user's").status_code == 201  # per user, not per service
    mine = httpx.get(f"{url}/api/v1/tickets/", headers={"Authorization": f"Bearer {customer.token}"}, timeout=10)
    assert mine.status_code == 200 and mine.json()["count"] == 5  # nothing refused was stored; reads are not limited


# -- 4. nothing in Redis is ever unpickled -----------------------------------------------------------


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {RCE_MARKER}",))


def test_a_pickle_planted_in_the_cache_is_not_executed_and_reads_as_a_miss(desk, stack_env):
    customer = desk.customer()
    ticket = desk.ticket(customer, "pickle target")
    with db_connect(stack_env, "ticket") as conn:  # the relay's publish invalidates the detail: let it pass first
        deadline = time.monotonic() + 10
        while conn.execute("SELECT count(*) FROM hdms_outbox WHERE published_at IS NULL").fetchone()[0]:
            assert time.monotonic() < deadline, "ticket-service's relay published nothing for 10 s"
            time.sleep(0.1)
    assert desk.call("ticket", "GET", f"/api/v1/tickets/{ticket['id']}/", customer).status_code == 200  # now cached
    cache = redis_client(stack_env, "cache")
    admin = redis_client(stack_env, "admin")  # the cache role itself may not list keys (SCAN)
    keys = list(admin.scan_iter(match=f"cache:ticket:*tickets:detail:{ticket['id']}", count=1000))
    assert keys, "the detail page was not cached where expected"
    cache.set(keys[0], pickle.dumps(_Exploit()), ex=60)
    response = desk.call("ticket", "GET", f"/api/v1/tickets/{ticket['id']}/", customer)
    assert not RCE_MARKER.exists(), "a pickle planted in Redis was executed by ticket-service"
    assert response.status_code == 200 and response.json()["subject"] == "pickle target", response.text
    log = Path(stack_env["HDMS_DATA_DIR"]) / "log" / "ticket.log"
    deadline = time.monotonic() + 5  # supervisord copies the program's output into the log file
    while "unreadable cache value" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
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
        with pytest.raises(redis.exceptions.ResponseError, match=r"NOPERM|not allowed"):  # DEBUG is off server-wide too
            client.execute_command("DEBUG", "SLEEP", "0")
    cache = redis_client(stack_env, "cache", db=2)
    with pytest.raises(redis.exceptions.NoPermissionError):
        cache.get("broker:probe")  # another role's keys, even on the broker's database
    with pytest.raises(redis.exceptions.NoPermissionError):
        cache.set("broker:probe", "poisoned")
    assert admin.get("broker:probe") == b"queued"


def test_pubsub_is_the_channel_roles_under_its_prefix_only(stack_env):
    """The channel layer is Redis pub/sub, which ignores db numbers: the ACL keeps it the role's."""
    channels = redis_client(stack_env, "channels", db=1)
    assert channels.publish("channels:communication__group__probe", "x") == 0  # its own prefix: allowed
    for name in ("broker:probe", "cache:probe", "probe"):  # not another role's names, nor unprefixed
        with pytest.raises(redis.exceptions.NoPermissionError):
            channels.publish(name, "x")
    with pytest.raises(redis.exceptions.NoPermissionError):
        redis_client(stack_env, "cache", db=0).publish("channels:communication__group__probe", "forged")


def test_no_role_lists_other_key_or_channel_names_or_flushes_scripts(stack_env):
    """Key patterns keep a role off other roles' values; listing commands would still show their
    names on any database the role SELECTs, and SCRIPT/FUNCTION FLUSH would wipe everyone's."""
    redis_client(stack_env, "admin", db=2).set("broker:probe", "queued", ex=60)
    listing = (
        ("SCAN", "0"),
        ("RANDOMKEY",),
        ("PUBSUB", "CHANNELS"),
        ("PUBSUB", "NUMPAT"),
        ("SCRIPT", "FLUSH"),
        ("FUNCTION", "FLUSH"),
    )
    for role in ("cache", "channels", "broker"):
        client = redis_client(stack_env, role, db=2)
        for command in listing:
            with pytest.raises(redis.exceptions.NoPermissionError):
                client.execute_command(*command)


def test_no_role_publishes_on_another_roles_channels_or_forges_an_invalidation(stack_env):
    """Only the channel layer's role publishes, under its prefix; the broker's role only its own
    result channels (Celery's result backend: broker:celery-task-meta-<id>); nobody publishes to
    __redis__:invalidate, which every process's key-tracking connection listens to."""
    for role, db in (("cache", 0), ("channels", 1), ("broker", 2)):
        with pytest.raises(redis.exceptions.NoPermissionError):
            redis_client(stack_env, role, db=db).publish("__redis__:invalidate", "forged")
    broker = redis_client(stack_env, "broker", db=2)
    assert broker.publish("broker:celery-task-meta-probe", "x") == 0
    for name in ("channels:communication__group__probe", "channels:probe", "/2.celery.pidbox", "probe"):
        with pytest.raises(redis.exceptions.NoPermissionError):
            broker.publish(name, "forged")
    with pytest.raises(redis.exceptions.NoPermissionError):
        broker.execute_command("PSUBSCRIBE", "*")


def test_the_default_user_and_the_old_shared_password_are_refused(stack_env):
    for password in (None, stack_env["REDIS_CACHE_PASSWORD"]):
        client = redis.Redis(host="127.0.0.1", port=int(stack_env["REDIS_PORT"]), password=password, socket_timeout=5)
        with pytest.raises((redis.exceptions.AuthenticationError, redis.exceptions.ResponseError)):
            client.ping()


# -- 6. each process holds only its own secrets --------------------------------------------------


def _process_tree(pid: int) -> list[int]:
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, queue = [], [pid]
    while queue:
        tree.append(queue.pop())
        queue += children.get(tree[-1], [])
    return tree


def _what_it_holds(pid: int) -> str:
    """A process's environment and the env file it was pointed at."""
    environ = dict(item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0") if "=" in item)
    env_file = Path(environ.get("HDMS_ENV_FILE", "/nonexistent"))
    return "\n".join(f"{k}={v}" for k, v in environ.items()) + (env_file.read_text() if env_file.exists() else "")


@pytest.mark.parametrize("program", ["ticket", "communication", "file", "worker", "events", "ticket-relay"])
def test_a_process_holds_neither_another_services_secrets_nor_the_private_key(stack_env, run_dir, program):
    from hdms_tools.programs import SERVICE_OF

    service = SERVICE_OF.get(program, program)
    private_key = Path(stack_env["JWT_PRIVATE_KEY_FILE"])
    foreign = {
        name: stack_env[name]
        for name in ("USER_DB_PASSWORD", "TICKET_DB_PASSWORD", "COMMUNICATION_DB_PASSWORD", "FILE_DB_PASSWORD")
        if name != f"{service.upper()}_DB_PASSWORD"
    }
    foreign |= {name: stack_env[name] for name in ("REDIS_ADMIN_PASSWORD", "PGBOUNCER_ADMIN_PASSWORD", "POSTGRES_PASSWORD")}
    foreign |= {"the private key file": str(private_key), "the private key": private_key.read_text().splitlines()[1]}
    foreign["a copy of the private key file"] = f".{private_key.name}"  # run/<program>.jwt-private.pem (as root)
    tree = _process_tree(read_pid(run_dir / f"{program}.pid"))
    assert len(tree) >= (2 if program in ("ticket", "communication", "file", "worker") else 1)  # with its workers
    for pid in tree:
        held = _what_it_holds(pid)
        assert stack_env[f"{service.upper()}_DB_PASSWORD"] in held  # its own: the check can see secrets
        leaked = [name for name, value in foreign.items() if value in held]
        assert not leaked, f"{program} (pid {pid}) holds {leaked}"


def test_only_user_service_holds_the_private_key(stack_env, run_dir):
    """user-service reads the signing key (as root: from a 0600 copy of its own user's in run/, the
    key itself being 0640 for the app image's group); the other services hold neither (above)."""
    held = _what_it_holds(read_pid(run_dir / "user.pid"))
    named = dict(line.partition("=")[::2] for line in held.splitlines() if line.startswith("JWT_PRIVATE_KEY_FILE="))
    key = Path(named["JWT_PRIVATE_KEY_FILE"])
    assert key.read_text() == Path(stack_env["JWT_PRIVATE_KEY_FILE"]).read_text()
    assert key.stat().st_mode & 0o077 == 0 and stack_env["REDIS_CHANNELS_PASSWORD"] not in held


# -- 7. long-lived sockets obey the token --------------------------------------------------------


async def _is_open(ws) -> bool:
    try:
        await asyncio.wait_for(ws.recv(), 1)  # a message, or nothing for a second: open either way
    except TimeoutError:
        pass
    except ConnectionClosed:
        return False
    return True


@pytest.mark.asyncio
async def test_one_socket_past_a_users_limit_is_closed_with_4429_until_one_of_theirs_closes(desk, stack_env):
    limit = int(stack_env.get("WEBSOCKET_MAX_PER_USER", "20"))
    customer, other = desk.customer(), desk.customer()
    ticket = desk.ticket(customer)
    async with contextlib.AsyncExitStack() as held:
        sockets = [await held.enter_async_context(desk.socket(customer, ticket["id"])) for _ in range(limit)]
        assert await close_code(desk.socket(customer, ticket["id"])) == 4429
        async with desk.socket(other, desk.ticket(other)["id"]) as theirs:  # per user: others are not affected
            assert await _is_open(theirs)
        await sockets[0].close()
        await asyncio.sleep(0.5)  # the server has seen it close and given its place back
        async with desk.socket(customer, ticket["id"]) as again:
            assert await _is_open(again)
        assert all([await _is_open(ws) for ws in sockets[1:3]])


def _short(person: Person, seconds: int, roles: tuple[str, ...] = ("customer",)) -> Person:
    from hdms_platform.testing.tokens import make_access_token

    token = make_access_token(user_id=uuid.UUID(person.user_id), email=person.email, roles=roles, expires_in=seconds)
    return Person(person.email, token, person.user_id)


@pytest.mark.asyncio
async def test_a_socket_is_closed_with_4401_when_its_token_expires(desk):
    customer = desk.customer()
    ticket = desk.ticket(customer)
    started = time.monotonic()
    assert await close_code(desk.socket(_short(customer, 3), ticket["id"]), timeout=10) == 4401
    assert 2 < time.monotonic() - started < 8


@pytest.mark.asyncio
async def test_a_fresh_token_sent_in_band_keeps_the_socket_open(desk):
    customer = desk.customer()
    ticket = desk.ticket(customer)
    async with desk.socket(_short(customer, 3), ticket["id"]) as ws:
        await ws.send(json.dumps({"type": "auth", "token": _short(customer, 120).token}))
        assert (await next_message(ws, where=lambda m: m["type"] == "auth.ok"))["expires_at"] > time.time() + 60
        await asyncio.sleep(4)  # past the first token's expiry
        desk.comment(customer, ticket["id"], "still listening")
        event = await next_message(ws, where=lambda m: m["type"] == "comment.added")
        assert event["data"]["comment"]["body"] == "still listening"


@pytest.mark.asyncio
async def test_in_band_tokens_of_another_user_or_a_lost_role_close_the_socket(desk):
    customer, other = desk.customer(), desk.customer()
    ticket = desk.ticket(customer)
    async with desk.socket(customer, ticket["id"]) as ws:
        await ws.send(json.dumps({"type": "auth", "token": other.token}))
        assert await close_code_of(ws) == 4401
    agent = desk.agent()
    async with desk.socket(agent, ticket["id"]) as ws:  # demoted: the next token says customer only
        await ws.send(json.dumps({"type": "auth", "token": _short(agent, 120, roles=("customer",)).token}))
        assert await close_code_of(ws) == 4403


async def close_code_of(ws) -> int:
    from websockets.exceptions import ConnectionClosed

    try:
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else -1


@pytest.mark.asyncio
async def test_a_client_flooding_messages_is_closed_with_4429(desk):
    customer = desk.customer()
    ticket = desk.ticket(customer)
    async with desk.socket(customer, ticket["id"]) as ws:
        for _ in range(60):
            try:
                await ws.send(json.dumps({"type": "presence", "state": "viewing"}))
            except Exception:  # noqa: BLE001 - the server may already have closed it
                break
        assert await close_code_of(ws) == 4429


@pytest.mark.asyncio
async def test_a_message_over_the_size_limit_closes_the_socket_with_1009(desk):
    customer = desk.customer()
    ticket = desk.ticket(customer)
    async with desk.socket(customer, ticket["id"]) as ws:
        await ws.send(json.dumps({"type": "presence", "state": "x" * 100_000}))
        assert await close_code_of(ws) == 1009


@pytest.mark.asyncio
async def test_a_browser_origin_not_allowed_is_refused_at_the_handshake(desk, stack_env):
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    customer = desk.customer()
    ticket = desk.ticket(customer)
    url = f"{desk.ws}/ws/tickets/{ticket['id']}/"
    protocols = ["hdms", f"access_token.{customer.token}"]
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, subprotocols=protocols, origin="https://evil.example", open_timeout=5):
            pass
    assert refused.value.response.status_code == 403
    own = f"http://localhost:{stack_env['COMMUNICATION_SERVICE_PORT']}"
    async with connect(url, subprotocols=protocols, origin=own, open_timeout=5) as ws:
        await ws.send(json.dumps({"type": "presence", "state": "viewing"}))
        # the ticket's own ticket.created may arrive first (live or replayed): skip to the presence
        assert (await next_message(ws, where=lambda m: m["type"] == "presence"))["type"] == "presence"


@pytest.mark.asyncio
async def test_presence_shows_customers_no_staff_email(desk):
    customer, agent = desk.customer(), desk.agent()
    ticket = desk.ticket(customer)
    async with desk.socket(customer, ticket["id"]) as mine, desk.socket(agent, ticket["id"]) as theirs:
        await theirs.send(json.dumps({"type": "presence", "state": "replying"}))
        seen = await next_message(mine, where=lambda m: m["type"] == "presence" and m["viewers"])
        assert seen["viewers"][0]["user_id"] == agent.user_id and agent.email not in json.dumps(seen)
        await mine.send(json.dumps({"type": "presence", "state": "viewing"}))  # after: heartbeats do not lock
        seen = await next_message(mine, where=lambda m: m["type"] == "presence" and len(m["viewers"]) == 2)
        assert agent.email not in json.dumps(seen) and customer.email in json.dumps(seen)
        staff_view = await next_message(theirs, where=lambda m: m["type"] == "presence" and len(m["viewers"]) == 2)
        assert agent.email in json.dumps(staff_view) and customer.email in json.dumps(staff_view)


# -- 8. files ---------------------------------------------------------------------------------------


def _png(size: tuple[int, int]) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", size).save(buffer, "PNG")
    return buffer.getvalue()


def test_the_image_pixel_limit_is_exact(desk):
    customer = desk.customer()
    ticket = desk.ticket(customer)
    over = upload(desk, customer, ticket["id"], "wide.png", _png((40_001, 1_000)), "image/png")  # 40,001,000 pixels
    at = upload(desk, customer, ticket["id"], "ok.png", _png((40_000, 1_000)), "image/png")  # exactly the limit
    assert over.status_code == at.status_code == 201, (over.text, at.text)
    rejected = wait_status(desk, customer, over.json()["id"], {"ready", "rejected"}, timeout=60)
    assert rejected["status"] == "rejected" and "pixels" in rejected["rejection_reason"], rejected
    assert wait_status(desk, customer, at.json()["id"], {"ready", "rejected"}, timeout=60)["status"] == "ready"


@pytest.mark.parametrize(
    "content",
    [
        b"Dear support,\nmy screen shows <img src=x onerror=alert(document.domain)> since Monday.\n",
        b"log line\n" * 2000 + b"<a href=javascript:alert(1)>click</a>\n",  # markup past the first 8 KB
        b"<p onmouseover=alert(1)>hello</p>",
    ],
    ids=["img-onerror", "markup-after-8KB", "paragraph-handler"],
)
def test_markup_anywhere_in_a_text_upload_is_refused(desk, content):
    customer = desk.customer()
    ticket = desk.ticket(customer)
    response = upload(desk, customer, ticket["id"], "notes.txt", content, "text/plain")
    assert response.status_code == 415 and response.json()["error"]["code"] == "unsupported_media_type", response.text


@pytest.mark.parametrize("name", ["..", "...", "/", "..\\..", "???"])
def test_a_filename_that_reduces_to_nothing_gets_a_safe_name(desk, name):
    customer = desk.customer()
    ticket = desk.ticket(customer)
    response = upload(desk, customer, ticket["id"], name, b"plain words\n", "text/plain")
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "attachment.txt"


# -- 9. smaller ones ------------------------------------------------------------------------------


def test_logout_racing_a_refresh_leaves_no_live_token_in_the_family(desk):
    customer = desk.customer()
    survivors = []
    for _ in range(25):
        tokens = httpx.post(
            f"{desk.urls['user']}/api/v1/auth/login/", json={"email": customer.email, "password": PASSWORD}, timeout=10
        ).json()
        headers = {"Authorization": f"Bearer {tokens['access']}"}
        with ThreadPoolExecutor(max_workers=2) as pool:
            refreshed = pool.submit(httpx.post, f"{desk.urls['user']}/api/v1/auth/refresh/", json={"refresh": tokens["refresh"]})
            logout = pool.submit(
                httpx.post, f"{desk.urls['user']}/api/v1/auth/logout/", json={"refresh": tokens["refresh"]}, headers=headers
            )
            refreshed, logout = refreshed.result(), logout.result()
        assert logout.status_code == 204, logout.text
        if refreshed.status_code == 200:
            again = httpx.post(f"{desk.urls['user']}/api/v1/auth/refresh/", json={"refresh": refreshed.json()["refresh"]})
            survivors += [again.status_code] if again.status_code == 200 else []
    assert not survivors, f"{len(survivors)} of 25 logouts left a live refresh token behind"


def test_a_missing_hdms_settings_stops_start_up_naming_it(tmp_dir, stack_env):
    env_file = tmp_dir / "no-settings.env"
    lines = Path(os.environ["HDMS_ENV_FILE"]).read_text().splitlines()
    env_file.write_text("\n".join(line for line in lines if not line.startswith("HDMS_SETTINGS=")) + "\n")
    result = manage("ticket", "check", extra_env={"HDMS_ENV_FILE": str(env_file)})
    assert result.returncode != 0 and "HDMS_SETTINGS" in result.stderr, result.stderr[-500:]


def test_tokens_and_private_answers_are_never_stored(desk):
    """Cache-Control: no-store on the sign-in's tokens and on what a bearer token reads (#30)."""
    email, password = f"ns-{uuid.uuid4().hex[:10]}@example.com", "no-store-horse-42"
    assert desk.call("user", "POST", "/api/v1/auth/register/", json={"email": email, "password": password}).status_code == 202
    login = desk.call("user", "POST", "/api/v1/auth/login/", json={"email": email, "password": password})
    assert login.status_code == 200 and login.headers.get("cache-control") == "no-store"
    who = desk.login(email, password)
    ticket = desk.ticket(who)
    for _ in range(2):  # the second read is answered from memory (fastpath): the same header
        detail = desk.call("ticket", "GET", f"/api/v1/tickets/{ticket['id']}/", who)
        assert detail.status_code == 200 and detail.headers.get("cache-control") == "no-store"
