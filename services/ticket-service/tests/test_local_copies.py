"""hdms_platform.cache.copies on the real Redis: a process's copy of a cache entry goes the moment any
client changes the key, a write racing a read leaves no copy, and no copy is used without tracking."""

import time
import uuid

import pytest
import redis

from hdms_platform.cache.copies import TrackedCopies
from hdms_platform.conf.builders import redis_url
from hdms_platform.conf.env import env


def admin() -> redis.Redis:
    return redis.Redis(
        host=env.str("REDIS_HOST", "127.0.0.1"),
        port=env.int("REDIS_PORT"),
        username="hdms-admin",
        password=env.str("REDIS_ADMIN_PASSWORD"),
    )


def role_client() -> redis.Redis:
    return redis.Redis.from_url(redis_url("cache"))


def eventually(condition, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def copies():
    prefix = f"cache:test:{uuid.uuid4().hex}:"
    tracked = TrackedCopies(redis_url("cache"), prefix)
    tracked.get(prefix + "warm")  # starts the tracking connection
    assert eventually(lambda: tracked._tracking), "tracking never came up"
    return tracked


def test_a_copy_is_served_until_any_client_changes_its_key(copies):
    key, other = copies.prefix + "a", copies.prefix + "b"
    role_client().set(key, "v1", ex=60)
    copies.keep(key, {"v": 1}, since=copies.generation())
    copies.keep(other, {"v": "other"}, since=copies.generation())
    assert copies.get(key) == {"v": 1}
    role_client().delete(key)  # another process's write path
    assert eventually(lambda: copies.get(key) is None), "the copy outlived its key"
    assert copies.get(other) == {"v": "other"}  # only that key went


def test_a_write_racing_a_read_leaves_no_copy(copies):
    key = copies.prefix + "raced"
    since = copies.generation()  # the reader starts...
    role_client().set(key, "new", ex=60)  # ...a writer changes the key meanwhile...
    assert eventually(lambda: copies.generation() != since)
    copies.keep(key, {"v": "old"}, since=since)  # ...the reader's old value is not kept
    assert copies.get(key) is None


def test_no_copy_is_used_while_tracking_is_down(copies):
    key = copies.prefix + "c"
    copies.keep(key, {"v": 1}, since=copies.generation())
    assert copies.get(key) == {"v": 1}
    for client in admin().client_list(_type="pubsub"):
        if client.get("redir") == client["id"]:  # the tracking connection redirects to itself
            admin().client_kill_filter(_id=client["id"])
    assert eventually(lambda: copies.get(key) is None), "a copy survived the tracking connection"
    assert eventually(lambda: copies._tracking), "tracking did not come back"
    copies.keep(key, {"v": 2}, since=copies.generation())
    assert copies.get(key) == {"v": 2}
