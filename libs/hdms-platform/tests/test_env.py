import pytest
from django.core.exceptions import ImproperlyConfigured


def test_missing_required_variable_is_named(make_env):
    env = make_env(REDIS_CACHE_PASSWORD=None)
    with pytest.raises(ImproperlyConfigured, match="REDIS_CACHE_PASSWORD is required"):
        env.secret("REDIS_CACHE_PASSWORD")


def test_malformed_integer_names_variable_and_expectation(make_env):
    env = make_env(PGBOUNCER_PORT="sixty")
    with pytest.raises(ImproperlyConfigured, match=r"PGBOUNCER_PORT must be an integer >= 1 <= 65535, got 'sixty'"):
        env.port("PGBOUNCER_PORT")


def test_out_of_range_port_rejected(make_env):
    with pytest.raises(ImproperlyConfigured, match="PGBOUNCER_PORT"):
        make_env(PGBOUNCER_PORT="70000").port("PGBOUNCER_PORT")


@pytest.mark.parametrize("value", ["change-me", "changeme", "short"])
def test_placeholder_or_short_secret_rejected_without_echo(make_env, value):
    with pytest.raises(ImproperlyConfigured) as caught:
        make_env(DJANGO_SECRET_KEY=value).secret("DJANGO_SECRET_KEY", min_length=50)
    assert "DJANGO_SECRET_KEY" in str(caught.value)
    assert value not in str(caught.value).replace("DJANGO_SECRET_KEY", "")


def test_bool_and_list_and_choice(make_env):
    env = make_env(FLAG="yes", HOSTS="a, b,,c", MODE="json")
    assert env.bool("FLAG") is True
    assert env.list("HOSTS") == ["a", "b", "c"]
    assert env.choice("MODE", ("console", "json")) == "json"
    with pytest.raises(ImproperlyConfigured, match="MODE must be one of console, xml"):
        env.choice("MODE", ("console", "xml"))
    with pytest.raises(ImproperlyConfigured, match="FLAG must be true or false"):
        make_env(FLAG="maybe").bool("FLAG")


def test_bad_redis_url_is_named(make_env):
    with pytest.raises(ImproperlyConfigured, match="REDIS_CACHE_URL must be a redis://"):
        make_env(REDIS_CACHE_URL="http://x/0").redis_url("REDIS_CACHE_URL", "redis://localhost/0")


def test_a_number_out_of_its_range_stops_start_up_naming_the_variable(make_env):
    env = make_env(DB_REQUEST_BUDGET_SECONDS="0")
    with pytest.raises(ImproperlyConfigured, match=r"DB_REQUEST_BUDGET_SECONDS must be a number >= 0.1 <= 60, got 0"):
        env.float("DB_REQUEST_BUDGET_SECONDS", 2.0, min_value=0.1, max_value=60)
    assert make_env(DB_REQUEST_BUDGET_SECONDS="1.5").float("DB_REQUEST_BUDGET_SECONDS", 2.0, min_value=0.1) == 1.5
    with pytest.raises(ImproperlyConfigured, match=r"DB_REQUEST_BUDGET_SECONDS must be a number >= 0\.1, got nan"):
        make_env(DB_REQUEST_BUDGET_SECONDS="nan").float("DB_REQUEST_BUDGET_SECONDS", 2.0, min_value=0.1)


def test_settings_read_the_nearest_env_file_and_resolve_its_relative_paths_from_it(tmp_path, monkeypatch):
    """No HDMS_ENV_FILE: the nearest .env from the working directory up, as `manage.py` run in a
    service folder finds the repository's; a relative *_FILE path starts from that file's folder."""
    from hdms_platform.conf.env import Env

    (tmp_path / ".env").write_text("JWT_PUBLIC_KEY_FILE=.keys/public.pem\nSOME_NAME=from-the-file\n")
    (tmp_path / ".keys").mkdir()
    (tmp_path / ".keys" / "public.pem").write_text("PEM")
    deep = tmp_path / "services" / "ticket-service"
    deep.mkdir(parents=True)
    monkeypatch.delenv("HDMS_ENV_FILE", raising=False)
    monkeypatch.delenv("SOME_NAME", raising=False)
    monkeypatch.delenv("JWT_PUBLIC_KEY_FILE", raising=False)
    monkeypatch.chdir(deep)
    env = Env()
    assert env.str("SOME_NAME") == "from-the-file"
    assert env.path("JWT_PUBLIC_KEY_FILE") == tmp_path / ".keys" / "public.pem"

    from hdms_platform.auth.tokens import public_key

    assert public_key(env) == "PEM"


def test_a_named_env_file_that_does_not_exist_stops_start_up(tmp_path, monkeypatch):
    from hdms_platform.conf.env import Env

    monkeypatch.setenv("HDMS_ENV_FILE", str(tmp_path / "missing.env"))
    with pytest.raises(ImproperlyConfigured, match=r"HDMS_ENV_FILE points at .*missing\.env"):
        Env()
