"""`make observe`: Prometheus (Debian's package), Redis' exporter (Debian's) and PgBouncer's
(hdms_platform.observability.pgbouncer_exporter: Debian's does not work with its PgBouncer) natively, scraping the
stack `make up` runs; hdms_tools.processes starts and stops them like the services.

The configuration is the repository's (config/prometheus/prometheus.yml, alerts.yml); this module
copies it into $HDMS_DATA_DIR/prometheus/ and writes the scrape targets (file_sd) from the ports in
the env file, so native and compose share one config and differ only in target addresses.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from .programs import METRICS_PORTS, SERVICE_OF, metrics_port
from .stack import REPO, SERVICES, Config

CONFIG_DIR = REPO / "config" / "prometheus"
PROGRAMS = ("pgbouncer-exporter", "redis-exporter", "prometheus")
DEFAULT_PORTS = {"PROMETHEUS_PORT": 9090, "PGBOUNCER_EXPORTER_PORT": 9127, "REDIS_EXPORTER_PORT": 9121}


def port(config: Config, variable: str) -> int:
    return config.port(variable, DEFAULT_PORTS[variable])


def _target(address: str, service: str, program: str) -> dict:
    return {"targets": [address], "labels": {"service": service, "program": program}}


def targets(config: Config) -> dict[str, list[dict]]:
    """file_sd target lists by file name, from the native ports."""
    local = "127.0.0.1:{}".format
    services = [_target(local(config.service_port(s)), s, "web") for s in SERVICES]
    background = [_target(local(metrics_port(config, name)), SERVICE_OF[name], name) for name in METRICS_PORTS]
    return {
        "services.json": services,
        "background.json": background,
        "pgbouncer.json": [_target(local(port(config, "PGBOUNCER_EXPORTER_PORT")), "pgbouncer", "exporter")],
        "redis.json": [_target(local(port(config, "REDIS_EXPORTER_PORT")), "redis", "exporter")],
        "prometheus.json": [_target(local(port(config, "PROMETHEUS_PORT")), "prometheus", "prometheus")],
    }


def render(config: Config) -> Path:
    """Write the native Prometheus configuration; returns the path of prometheus.yml."""
    directory = config.data_dir / "prometheus"
    (directory / "targets").mkdir(parents=True, exist_ok=True)
    settings = yaml.safe_load((CONFIG_DIR / "prometheus.yml").read_text())
    interval = config.get("PROMETHEUS_SCRAPE_INTERVAL", "15s")
    settings["global"]["scrape_interval"] = settings["global"]["evaluation_interval"] = interval
    settings["global"]["scrape_timeout"] = min(interval, "10s", key=_seconds)
    (directory / "prometheus.yml").write_text(yaml.safe_dump(settings, sort_keys=False))
    shutil.copyfile(CONFIG_DIR / "alerts.yml", directory / "alerts.yml")
    for name, entries in targets(config).items():
        (directory / "targets" / name).write_text(json.dumps(entries, indent=2) + "\n")
    return directory / "prometheus.yml"


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in ("ms", "s", "m", "h"):
        if duration.endswith(unit) and duration[: -len(unit)].isdigit():
            return int(duration[: -len(unit)]) * units[unit]
    raise ValueError(f"PROMETHEUS_SCRAPE_INTERVAL must be a duration such as 15s or 1m, got {duration!r}")


def commands(config: Config) -> dict[str, tuple[list[str], dict[str, str]]]:
    """name -> (argv, extra environment). Credentials go by environment, never on the command line."""
    redis = f"redis://{config.get('REDIS_HOST', '127.0.0.1')}:{config.port('REDIS_PORT', 6379)}"
    directory = config.data_dir / "prometheus"
    return {
        "pgbouncer-exporter": (
            [str(REPO / ".venv" / "bin" / "python"), "-m", "hdms_platform.observability.pgbouncer_exporter"],
            {"PGBOUNCER_STATS_PASSWORD": config.get("PGBOUNCER_STATS_PASSWORD")},
        ),
        "redis-exporter": (
            ["/usr/bin/prometheus-redis-exporter", "-web.listen-address", f"127.0.0.1:{port(config, 'REDIS_EXPORTER_PORT')}"],
            {"REDIS_ADDR": redis, "REDIS_USER": "hdms-metrics", "REDIS_PASSWORD": config.get("REDIS_METRICS_PASSWORD")},
        ),
        "prometheus": (
            [
                "/usr/bin/prometheus",
                f"--config.file={directory / 'prometheus.yml'}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--storage.tsdb.retention.time={config.get('PROMETHEUS_RETENTION', '15d')}",
                f"--web.listen-address=127.0.0.1:{port(config, 'PROMETHEUS_PORT')}",
                "--web.enable-lifecycle",
            ],
            {},
        ),
    }


def ready_url(config: Config, name: str) -> str:
    if name == "prometheus":
        return f"http://127.0.0.1:{port(config, 'PROMETHEUS_PORT')}/-/ready"
    variable = "PGBOUNCER_EXPORTER_PORT" if name == "pgbouncer-exporter" else "REDIS_EXPORTER_PORT"
    return f"http://127.0.0.1:{port(config, variable)}/metrics"
