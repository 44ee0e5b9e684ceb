import pytest
from decouple import Config

from hdms_platform.conf.env import Env


class DictRepository:
    def __init__(self, values):
        self.values = values

    def __contains__(self, key):
        return key in self.values

    def __getitem__(self, key):
        return self.values[key]


GOOD = {
    "DJANGO_SECRET_KEY": "k" * 60,
    **{f"REDIS_{role}_PASSWORD": f"{role.lower()}-redis-password-1" for role in ("ADMIN", "CACHE", "CHANNELS", "BROKER")},
    "PGBOUNCER_HOST": "10.1.2.3",
    "PGBOUNCER_PORT": "7432",
    **{f"{s}_DB_PASSWORD": f"{s.lower()}-password-1234" for s in ("USER", "TICKET", "COMMUNICATION", "FILE")},
}


@pytest.fixture
def make_env(monkeypatch):
    """An Env over a dict only: the process environment must not leak into these tests."""

    def build(**overrides):
        values = {**GOOD, **overrides}
        values = {k: v for k, v in values.items() if v is not None}
        for key in set(values) | set(GOOD):
            monkeypatch.delenv(key, raising=False)
        return Env(Config(DictRepository(values)))

    return build
