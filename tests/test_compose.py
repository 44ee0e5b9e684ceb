"""The compose files parse and keep the data plane's invariants (no Docker engine needed)."""

import os
import re
import subprocess

import pytest
import yaml

from hdms_tools.stack import REPO

REPLICATED = ("user-service", "ticket-service", "communication-service", "file-service", "file-worker")
# One of each: several relays (or event workers) would publish one ticket's events out of order;
# a second beat would send the purges twice; the user and ticket workers only take the purges.
SINGLETONS = ("events-worker", "ticket-relay", "file-relay", "beat", "user-worker", "ticket-worker")
APPS = REPLICATED + SINGLETONS


def load(name):
    return yaml.safe_load((REPO / name).read_text())


@pytest.fixture(scope="module")
def base():
    return load("docker-compose.yml")


@pytest.fixture(scope="module")
def prod():
    return load("docker-compose.prod.yml")


def version(image: str) -> tuple[int, ...]:
    tag = image.rsplit(":", 1)[1]
    return tuple(int(x) for x in re.match(r"v?(\d+(?:\.\d+)*)", tag).group(1).split("."))


def test_images_are_pinned_to_supported_versions(base):
    services = base["services"]
    assert version(services["postgres"]["image"])[0] in (16, 17)
    assert "pgbouncer" in services["pgbouncer"]["image"] and version(services["pgbouncer"]["image"]) >= (1, 21)
    assert version(services["redis"]["image"])[0] == 7
    for name in ("postgres", "pgbouncer", "redis"):
        assert ":latest" not in services[name]["image"]


def test_every_long_running_container_has_a_healthcheck(base):
    for name, service in base["services"].items():
        if name not in ("migrate", "backup"):  # one-shot jobs
            assert "healthcheck" in service, name


def test_dependencies_wait_for_health(base):
    for name, service in base["services"].items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            wanted = "service_completed_successfully" if dependency == "migrate" else "service_healthy"
            assert condition == {"condition": wanted}, (name, dependency)


def test_the_backup_job_dumps_through_pgbouncer_with_the_servers_client_version(base):
    job = base["services"]["backup"]
    assert job["profiles"] == ["tools"] and job["restart"] == "no"
    assert "data" not in job["networks"] and job["environment"]["BACKUP_PG_HOST"] == "pgbouncer"
    major = version(base["services"]["postgres"]["image"])[0]
    assert job["environment"]["BACKUP_PG_BINDIR"] == f"/usr/lib/postgresql/{major}/bin"
    assert f"postgresql-client-{major}" in (REPO / "Dockerfile").read_text()
    assert "media:/var/lib/hdms/media" in job["volumes"] and any(v.endswith(":/backups") for v in job["volumes"])
    assert job["command"][:4] == ["python", "-m", "hdms_tools.backup", "create"]


def test_named_volumes_for_state(base):
    assert {"pgdata", "redisdata", "media"} <= set(base["volumes"])
    assert any(v.startswith("pgdata:") for v in base["services"]["postgres"]["volumes"])


def test_only_pgbouncer_reaches_postgres(base):
    """PostgreSQL has no network: its socket, in a volume only PgBouncer mounts, is the one way in;
    its pg_hba.conf accepts that socket only (compose/test_dev.py proves it on a real engine)."""
    postgres = base["services"]["postgres"]
    assert postgres["network_mode"] == "none" and "networks" not in postgres and "ports" not in postgres
    assert "listen_addresses=" in postgres["command"] and "hba_file=/hdms/pg_hba.conf" in postgres["command"]
    socket_users = sorted(
        name for name, s in base["services"].items() if any(str(v).startswith("pgsocket:") for v in s.get("volumes", []))
    )
    assert socket_users == ["pgbouncer", "postgres"]
    hba = [
        line.split()
        for line in (REPO / "config/postgres/pg_hba.conf").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert [rule for rule in hba if rule[-1] != "reject"] == [["local", "all", "all", "scram-sha-256"]]


def test_every_image_is_named_by_a_variable_with_the_upstream_default(base):
    from hdms_tools import images

    for name, variable in (
        ("postgres", "POSTGRES_IMAGE"),
        ("pgbouncer", "PGBOUNCER_IMAGE"),
        ("redis", "REDIS_IMAGE"),
        ("gateway", "NGINX_IMAGE"),
    ):
        assert re.fullmatch(r"\$\{" + variable + r":-[a-z0-9./-]+:[\w.-]+\}", base["services"][name]["image"]), name
        assert variable in images.OFFLINE
    assert base["services"]["user-service"]["image"] == "${APP_IMAGE:-hdms/app:local}"
    for name, service in base["services"].items():
        assert service["image"].startswith("${"), name


def test_the_image_installs_the_runtime_pins_of_the_lock():
    def pins(name: str) -> dict[str, str]:
        lines = (REPO / name).read_text().split()
        return {line.split("==")[0].lower().replace("_", "-"): line.split("==")[1] for line in lines if "==" in line}

    runtime, full = pins("requirements-runtime.lock"), pins("requirements.lock")
    assert {name: full.get(name) for name in runtime} == runtime  # a subset, pinned alike
    for tool in ("pytest", "mypy", "ruff", "matplotlib", "schemathesis", "hypothesis", "django-stubs"):
        assert tool not in runtime, tool


def test_the_build_context_admits_code_only():
    ignore = [line for line in (REPO / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert ignore[0] == "*"  # everything left out first, then let in by name
    allowed = [line[1:] for line in ignore if line.startswith("!")]
    assert all(not a.startswith((".env", ".keys", "backups", "media", ".devstack", ".git")) for a in allowed), allowed
    assert "**/*.pem" in ignore and "**/.env" in ignore


def test_apps_reach_the_database_only_through_pgbouncer(base):
    for name in APPS:
        env = base["services"][name]["environment"]
        assert env["PGBOUNCER_HOST"] == "pgbouncer"
        assert "data" not in base["services"][name].get("networks", [])


def test_prod_publishes_no_database_or_redis_port(base, prod):
    for name in ("postgres", "pgbouncer", "redis"):
        assert "ports" not in base["services"][name]
        assert "ports" not in prod["services"].get(name, {})


def test_prod_requires_its_secrets(prod):
    text = (REPO / "docker-compose.prod.yml").read_text()
    for secret in ("DJANGO_SECRET_KEY", "REDIS_ADMIN_PASSWORD", "POSTGRES_PASSWORD", "USER_DB_PASSWORD", "FILE_DB_PASSWORD"):
        assert re.search(r"\$\{" + secret + r":\?[^}]+\}", text), secret


def test_prod_services_restart_and_replicate(prod):
    for name in APPS:
        service = prod["services"][name]
        assert service["restart"] == "always", name
        assert service["deploy"]["replicas"] == 1 if name in SINGLETONS else service["deploy"]["replicas"] >= 2, name
        assert service["environment"]["HDMS_SETTINGS"] == "prod"


def test_pgbouncer_template_is_transaction_pooled_scram_with_session_entries():
    ini = (REPO / "config/pgbouncer/pgbouncer.ini.example").read_text()
    assert re.search(r"^pool_mode = transaction$", ini, re.M)
    assert re.search(r"^auth_type = scram-sha-256$", ini, re.M)
    for service in ("user", "ticket", "communication", "file"):
        assert re.search(rf"^hdms_{service}\s+=.*pool_mode=transaction", ini, re.M)
        assert re.search(rf"^hdms_{service}_session\s+=.*pool_mode=session", ini, re.M)
    wait = float(re.search(r"^query_wait_timeout = ([0-9.]+)$", ini, re.M).group(1))
    assert 0 < wait < 2, "a query queued longer than the 2 s fail-fast bound"
    assert re.search(r"^server_connect_timeout = [1-5]$", ini, re.M)
    assert re.search(r"^admin_users = ", ini, re.M)


def test_redis_conf_never_evicts_broker_data():
    conf = (REPO / "config/redis/redis.conf").read_text()
    policy = re.search(r"^maxmemory-policy (\S+)$", conf, re.M).group(1)
    assert policy.startswith("volatile-") or policy == "noeviction"
    assert re.search(r"^maxmemory \d+", conf, re.M)


def test_every_variable_in_env_example_is_documented():
    from hdms_tools.stack import read_env_file

    documented = (REPO / "docs" / "environment-variables.md").read_text()
    missing = [name for name in read_env_file(REPO / ".env.example") if f"`{name}`" not in documented]
    assert missing == []


CONTAINER_SERVICE = {
    "user-service": "user",
    "ticket-service": "ticket",
    "communication-service": "communication",
    "file-service": "file",
    "file-worker": "file",
    "events-worker": "communication",
    "ticket-relay": "ticket",
    "file-relay": "file",
    "user-worker": "user",
    "ticket-worker": "ticket",
}


def test_each_container_holds_only_its_own_secrets(base, prod):
    from hdms_platform.conf.catalogue import SECRET_VARIABLES, service_secrets

    for name, service in CONTAINER_SERVICE.items():
        assert "env_file" not in base["services"][name], name  # no shared file with every secret
        env = {**base["services"][name]["environment"], **prod["services"][name]["environment"]}
        held = {key for key, value in env.items() if key in SECRET_VARIABLES and value}
        assert held <= service_secrets(service), (name, sorted(held - service_secrets(service)))
        assert f"{service.upper()}_DB_PASSWORD" in held, name
        has_private_key = "jwt_private" in base["services"][name].get("secrets", [])
        assert has_private_key == (service == "user") and ("JWT_PRIVATE_KEY_FILE" in held) == has_private_key, name


def test_the_beat_container_holds_the_broker_password_and_no_other_secret(base, prod):
    from hdms_platform.conf.catalogue import SECRET_VARIABLES

    env = {**base["services"]["beat"]["environment"], **prod["services"]["beat"]["environment"]}
    assert {key for key, value in env.items() if key in SECRET_VARIABLES and value} == {"REDIS_BROKER_PASSWORD"}
    assert base["services"]["beat"]["secrets"] == []  # not even the public key


def test_redis_runs_with_acl_users_and_no_shared_password(base):
    redis = base["services"]["redis"]
    assert redis["entrypoint"] == ["/bin/sh", "/hdms/entrypoint.sh"]
    assert "REDIS_PASSWORD" not in redis["environment"] and "requirepass" not in str(redis)
    acl = (REPO / "config/redis/users.acl").read_text()
    assert re.search(r"^user default off", acl, re.M)
    for role in ("cache", "channels", "broker"):
        rule = re.search(rf"^user hdms-{role} on .*$", acl, re.M).group(0)
        assert f"~{role}:*" in rule and "-@dangerous" in rule and "~*" not in rule, rule


# -- checked by a real compose implementation (Debian's docker-compose), as it would run them --------


def compose_config(tmp_path, *files: str, drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    from hdms_tools.envfile import render

    values = {"TLS_CERT_FILE": str(tmp_path / "cert.pem"), "TLS_KEY_FILE": str(tmp_path / "key.pem")}
    text = render((REPO / ".env.example").read_text(), values)
    env_file = tmp_path / "compose.env"
    env_file.write_text("\n".join(line for line in text.splitlines() if line.split("=", 1)[0] not in drop) + "\n")
    argv = ["docker-compose", "--env-file", str(env_file), "--project-directory", str(REPO)]
    for name in files:
        argv += ["-f", str(REPO / name)]
    return subprocess.run([*argv, "config"], capture_output=True, text=True, timeout=60, env={"PATH": os.environ["PATH"]})


@pytest.mark.parametrize("overlay", ["docker-compose.dev.yml", "docker-compose.prod.yml"])
def test_a_real_compose_implementation_accepts_base_plus(overlay, tmp_path):
    result = compose_config(tmp_path, "docker-compose.yml", overlay)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "gateway" in yaml.safe_load(result.stdout)["services"]


def test_production_without_tls_files_stops_naming_the_variable(tmp_path):
    result = compose_config(tmp_path, "docker-compose.yml", "docker-compose.prod.yml", drop=("TLS_CERT_FILE",))
    assert result.returncode != 0 and "TLS_CERT_FILE" in result.stderr


def test_production_as_compose_resolves_it(tmp_path):
    config = yaml.safe_load(compose_config(tmp_path, "docker-compose.yml", "docker-compose.prod.yml").stdout)
    services = config["services"]
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert list(published) == ["gateway"], published  # one front door; replicas can scale
    assert sorted(int(p["published"]) for p in published["gateway"]) == [80, 443]
    assert {"tls_cert", "tls_key"} <= {s["source"] for s in services["gateway"]["secrets"]}
    assert "https://127.0.0.1/" in str(services["gateway"]["healthcheck"]["test"])  # health through the gateway
    for name, service in services.items():
        assert service["logging"]["options"]["max-size"], name  # rotated logs everywhere
        if name != "migrate":
            assert service["deploy"]["resources"]["limits"]["memory"], name
    for name in APPS:
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
        assert services[name]["environment"]["TRUSTED_PROXY_COUNT"] == "1", name
    assert services["migrate"]["restart"] == "no"


def test_the_image_builds_static_files():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"collectstatic --noinput", dockerfile)


@pytest.mark.parametrize("service", ["user", "ticket", "file"])
def test_gunicorn_runs_with_the_native_launchers_options(base, service):
    """Same config with or without Docker: threads, timeouts and --reuse-port (each worker its own
    listening socket, so the kernel spreads connections over the workers instead of one worker
    taking every keep-alive connection of a burst: docs/performance-profiles.md)."""
    from hdms_tools import processes
    from hdms_tools.stack import Config

    def options(argv: list[str]) -> list[str]:
        out, skip = [], False
        for arg in argv[2:]:  # past the program and the application
            if skip:
                skip = False
            elif arg in ("--bind", "--chdir", "--workers"):
                skip = True  # where it listens and how many workers differ by design
            else:
                out.append(arg)
        return out

    native, _, _ = processes.commands(Config.load())[service]
    compose = base["services"][f"{service}-service"]["command"]
    assert "--reuse-port" in options(native)
    assert options(compose) == options(native)
