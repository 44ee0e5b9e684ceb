"""Run the four services, the Celery workers and the relays under supervisord (`make up` / `make down`).

This module says what each program is; supervise.py runs supervisord. gunicorn serves the WSGI
services, uvicorn the ASGI communication-service, the same servers in development, tests and
benchmarks. PIDs and logs live under HDMS_DATA_DIR.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

from hdms_platform.conf.catalogue import SECRET_VARIABLES, SERVICES, service_secrets, task_queue
from hdms_platform.conf.trusted_proxies import TrustedProxies

from . import observe, supervise
from .programs import BACKGROUND, BEAT_SECRETS, METRICS_PORTS, SERVICE_OF, metrics_port
from .stack import (
    EXIT_CONFIG,
    EXIT_PORT,
    REPO,
    Config,
    StackError,
    cli,
    give_to,
    port_in_use,
    read_pid,
    run_as_user,
    say,
    wait_until,
)


def _absolute_paths(line: str, base: Path) -> str:
    """A relative `*_FILE` path made absolute from the launcher's env file folder: the program reads
    the copy in run/, and hdms_platform.conf.env resolves a relative path from the file that names it."""
    key, sep, value = line.partition("=")
    if sep and key.strip().endswith("_FILE") and value.strip() and not Path(value.strip()).is_absolute():
        return f"{key}={base.resolve() / value.strip()}"
    return line


def program_user(config: Config) -> pwd.struct_passwd | None:
    """Who the programs run as: the stack's unprivileged user (HDMS_RUN_AS) when the launcher is
    root, None (the launcher's own user) otherwise. supervisord switches to it before it starts."""
    return run_as_user(config) if os.geteuid() == 0 else None


def _own(path: Path, user: pwd.struct_passwd | None) -> None:
    if user:
        os.chown(path, user.pw_uid, user.pw_gid)


def _private_copy(line: str, run_dir: Path, name: str, user: pwd.struct_passwd | None) -> str:
    """A secret file (`JWT_PRIVATE_KEY_FILE`) the program's user cannot read as it is (the key is
    0640 for the app image's group) copied into run/, 0600 and the program's; other lines unchanged."""
    key, sep, value = line.partition("=")
    if not (user and sep and key.strip() in SECRET_VARIABLES and key.strip().endswith("_FILE") and value.strip()):
        return line
    source = Path(value.strip())
    copy = run_dir / f"{name}.{source.name}"
    copy.touch(mode=0o600)
    copy.chmod(0o600)
    _own(copy, user)
    copy.write_bytes(source.read_bytes())
    return f"{key.strip()}={copy}"


def program_environment(config: Config, name: str, user: pwd.struct_passwd | None = None) -> dict[str, str]:
    """The environment one program starts with: its own secrets only, never another service's.

    The launcher's env file holds every secret; each program gets a copy without the secrets it
    must not hold (run/<program>.env, 0600, the program user's), and those variables are dropped
    from the inherited environment too.
    """
    owner = SERVICE_OF.get(name, name)
    if name == "beat":
        withheld = set(SECRET_VARIABLES) - BEAT_SECRETS
    else:
        withheld = set(SECRET_VARIABLES) - (service_secrets(owner) if owner in SERVICES else set())
    run_dir = config.data_dir / "run"
    scoped = run_dir / f"{name}.env"
    lines = config.env_file.read_text().splitlines() if config.env_file.exists() else []
    scoped.touch(mode=0o600)
    scoped.chmod(0o600)
    _own(scoped, user)
    kept = (
        _private_copy(_absolute_paths(line, config.env_file.parent), run_dir, name, user)
        for line in lines
        if line.split("=", 1)[0].strip() not in withheld
    )
    scoped.write_text("".join(f"{line}\n" for line in kept))
    env = {key: value for key, value in os.environ.items() if key not in withheld}
    for key in env.keys() & SECRET_VARIABLES:  # a secret file named in the environment wins over the env file's
        env[key] = _private_copy(f"{key}={env[key]}", run_dir, name, user).partition("=")[2]
    if user:  # not root's home: nothing of the program's may land there
        env.update(HOME=str(config.data_dir), USER=user.pw_name, LOGNAME=user.pw_name)
    # prometheus-client's multiprocess files: one empty directory per program run (metrics.py)
    metrics_dir = config.data_dir / "metrics" / name
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    _own(metrics_dir, user)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    if name in METRICS_PORTS:
        env["HDMS_METRICS_PORT"] = str(metrics_port(config, name))
    # gunicorn believes X-Forwarded-Proto only from these (its default: 127.0.0.1, anyone local):
    # the addresses of TRUSTED_PROXIES, the gateway's own. In compose nothing is 127.0.0.1.
    env["FORWARDED_ALLOW_IPS"] = ",".join(_addresses(config.get("TRUSTED_PROXIES", "")))
    return {**env, "PYTHONUNBUFFERED": "1", "HDMS_ENV_FILE": str(scoped)}


def venv_bin(name: str) -> str:
    return str(REPO / ".venv" / "bin" / name)


def commands(config: Config) -> dict[str, tuple[list[str], Path, int | None]]:
    """name -> (argv, working directory, port or None)."""
    # 2 x cores on the 2-core reference machine (gunicorn's own guidance is 2 x cores + 1): more
    # processes fill the time the others spend waiting on PgBouncer and on their GIL; measured
    # against 2, 3 and 5 in docs/performance-profiles.md (2026-12-05).
    workers = config.get("HDMS_WEB_WORKERS", "4")
    out: dict[str, tuple[list[str], Path, int | None]] = {}
    for service in SERVICES:
        port = config.service_port(service)
        src = REPO / "services" / f"{service}-service" / "src"
        if service == "communication":
            argv = [
                venv_bin("uvicorn"),
                "core.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                workers,
                "--no-access-log",
                "--lifespan",
                "off",
                "--no-proxy-headers",  # X-Forwarded-For is hdms_platform.web.proxies' to judge, by the peer's address
                "--timeout-graceful-shutdown",
                "5",
                "--ws-max-size",  # a bigger client message closes the socket with 1009
                config.get("WEBSOCKET_MAX_MESSAGE_BYTES", "16384"),
                "--ws-per-message-deflate",  # events are small JSON: compressing each copy cost
                "false",  # more CPU per delivery than it saved (docs/performance-profiles.md)
            ]
        else:
            argv = [
                venv_bin("gunicorn"),
                "core.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                workers,
                "--threads",
                "4",
                "--timeout",
                "30",
                "--graceful-timeout",
                "5",
                # Each worker its own listening socket (SO_REUSEPORT): the kernel spreads connections
                # over the workers. On one shared socket a burst of keep-alive connections could all
                # land on one worker while the other idled, halving throughput for as long as those
                # connections lived (seen in the bench: 32 of 32 on one worker in a third of the runs).
                # SO_REUSEPORT would also let a stray process share the port: start() refuses a port
                # already in use first.
                "--reuse-port",
                # gunicorn 27's control interface (a socket under $HOME) is not used by HDMS.
                "--no-control-socket",
            ]
        out[service] = (argv, src, port)
    concurrency = config.get("HDMS_CELERY_CONCURRENCY", "2")
    out["worker"] = (_celery_worker("file", concurrency), REPO / "services" / "file-service" / "src", None)
    # Concurrency 1: events of one ticket are stored and broadcast in the order they arrive.
    out["events"] = (_celery_worker("communication", "1"), REPO / "services" / "communication-service" / "src", None)
    # user- and ticket-service run no task but the scheduled retention: one process each (solo pool).
    for service in ("user", "ticket"):
        out[f"{service}-worker"] = (
            _celery_worker(service, "1", pool="solo"),
            REPO / "services" / f"{service}-service" / "src",
            None,
        )
    schedule = config.data_dir / "run" / "celerybeat-schedule"
    out["beat"] = (
        [venv_bin("celery"), "-A", "hdms_platform.celery.beat", "beat", "--loglevel", "INFO", "--schedule", str(schedule)],
        REPO,
        None,
    )
    for service in ("ticket", "file"):
        out[f"{service}-relay"] = (
            [venv_bin("python"), "manage.py", "outbox_relay"],
            REPO / "services" / f"{service}-service",
            None,
        )
    for name, (argv, _) in observe.commands(config).items():
        out[name] = (argv, REPO, None)
    return out


OBSERVABILITY = observe.PROGRAMS  # `make observe`, or with `make up` when HDMS_OBSERVABILITY=true


def _addresses(entries: str) -> list[str]:
    """The addresses and networks of a TRUSTED_PROXIES list (gunicorn takes no host names)."""
    return [str(network) for network in TrustedProxies(entries.split(",")).networks]


def _celery_worker(service: str, concurrency: str, pool: str = "prefork") -> list[str]:
    return [
        venv_bin("celery"),
        "-A",
        "core",
        "worker",
        "--loglevel",
        "INFO",
        "--pool",
        pool,
        "--concurrency",
        concurrency,
        "--queues",
        task_queue(service),
        "--hostname",
        f"{service}@%h",
        "--without-mingle",
        "--without-gossip",
    ]


def _check_user_can_run(user: pwd.struct_passwd) -> None:
    """The programs' user must be able to run .venv's interpreter and read the code: fail naming
    both, before supervisord starts programs that could only exit."""
    probe = subprocess.run(
        ["runuser", "-u", user.pw_name, "--", venv_bin("python"), "-c", "import django, hdms_platform"],
        cwd="/",
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        raise StackError(
            f"{user.pw_name} (HDMS_RUN_AS, the user the programs run as) cannot run {venv_bin('python')} "
            f"(it resolves to {Path(venv_bin('python')).resolve()}) with the code in {REPO}: {probe.stderr.strip()[-300:]}; "
            "keep the checkout and its interpreter where that user can read them (`rm -rf .venv && make deps` "
            "builds .venv on Debian's python3)",
            EXIT_CONFIG,
        )


def _supervisor(config: Config, user: pwd.struct_passwd | None):
    """This data directory's supervisord (supervise.py), started if it is not running: as `user`
    when the launcher is root (it switches before it opens its socket or a log)."""
    data = config.data_dir
    if supervise.running(data):
        return supervise.client(data)
    if user:
        _check_user_can_run(user)
    conf = supervise.render(
        data,
        {name: cwd for name, (_, cwd, _) in commands(config).items()},
        venv_python=venv_bin("python"),
        log_max_mb=int(config.get("PROGRAM_LOG_MAX_MB", "50")),
        log_backups=int(config.get("PROGRAM_LOG_BACKUPS", "5")),
        user=user.pw_name if user else None,
    )
    # A bare environment: supervisord holds no secret; each program's comes from its launch file.
    bare = {key: os.environ[key] for key in ("PATH", "LANG", "LC_ALL", "HOME", "TZ") if key in os.environ}
    # umask 027, inherited by every program: logs, pid files and what the programs write are
    # readable by no other user of the machine.
    with open(data / "log" / "supervisord.out", "ab") as out:
        subprocess.Popen(
            [venv_bin("supervisord"), "-c", str(conf)],
            env=bare,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=0o027,
        )
    (data / "log" / "supervisord.out").chmod(0o640)
    wait_until(lambda: supervise.running(data), what=f"supervisord (log: {data / 'log' / 'supervisord.log'})", timeout=20)
    return supervise.client(data)


def _state(server, name: str) -> dict:
    return server.supervisor.getProcessInfo(name)


def start(config: Config, names: list[str]) -> None:
    data = config.data_dir
    (data / "run").mkdir(parents=True, exist_ok=True)
    (data / "log").mkdir(parents=True, exist_ok=True)
    table = commands(config)
    if "prometheus" in names:
        observe.render(config)
    user = program_user(config)
    if user:  # what the programs write: their data folder (a run as root may have left files) and the media
        give_to(user, data)
        config.media_dir.mkdir(mode=0o750, parents=True, exist_ok=True)
        give_to(user, config.media_dir)
    extra_env = {name: env for name, (_, env) in observe.commands(config).items()}
    server = _supervisor(config, user)
    launched: list[tuple[str, int | None, float]] = []
    for name in names:
        started = time.monotonic()
        argv, cwd, port = table[name]
        info = _state(server, name)
        if info["statename"] in supervise.STATES_UP:
            say(name, "already up", started, f"pid {info['pid']}" + (f", http://127.0.0.1:{port}" if port else ""))
            continue
        if port and port_in_use("127.0.0.1", port):
            raise StackError(
                f"port {port} is already in use, so {name}-service cannot listen on it; "
                f"set {name.upper()}_SERVICE_PORT in {config.env_file} to a free port",
                EXIT_PORT,
            )
        if name in METRICS_PORTS and port_in_use("127.0.0.1", metrics_port(config, name)):
            raise StackError(
                f"port {metrics_port(config, name)} is already in use, so {name} cannot export its metrics on it; "
                f"set {METRICS_PORTS[name][0]} in {config.env_file} to a free port",
                EXIT_PORT,
            )
        env = {**program_environment(config, name, user), **extra_env.get(name, {})}
        supervise.write_launch(data / "run", name, argv, cwd, env, owner=user)
        server.supervisor.startProcess(name, False)
        launched.append((name, port, started))
    for name, port, started in launched:
        _wait_started(config, server, name, port)
        if port:
            detail = f"http://127.0.0.1:{port}  (/health/ready, /api/docs/)"
        elif name in OBSERVABILITY:
            detail = observe.ready_url(config, name)
        else:
            detail = f"pid {_state(server, name)['pid']}"
        say(name, "started", started, detail)


def _wait_started(config: Config, server, name: str, port: int | None, timeout: float = 60) -> None:
    """Until the program answers (a service's /health/live, an exporter's page) or has run for
    supervisord's startsecs; fails at once when it exits during the start."""
    log = config.data_dir / "log" / f"{name}.log"
    deadline = time.monotonic() + timeout
    while True:
        state = _state(server, name)["statename"]
        if state in supervise.STATES_FAILED:
            raise StackError(f"{name} exited at start ({state}); see {log}", 6)
        try:
            if port:
                if _live(port):
                    return
            elif name in OBSERVABILITY:
                if _answers(observe.ready_url(config, name)):
                    return
            elif state == "RUNNING":
                return
        except OSError:
            pass  # not listening yet
        if time.monotonic() > deadline:
            raise StackError(f"{name} did not come up within {timeout:.0f}s; see {log}", 6)
        time.sleep(0.1)


def _live(port: int) -> bool:
    return _answers(f"http://127.0.0.1:{port}/health/live")


def _answers(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


def stop(config: Config, names: list[str]) -> None:
    """Stop the named programs (supervisord: TERM to the process group, KILL after 20 s); shut
    supervisord down when nothing is left running."""
    data = config.data_dir
    if not supervise.running(data):
        _stop_unsupervised(data, names)
        return
    server = supervise.client(data)
    for name in names:
        started = time.monotonic()
        info = _state(server, name)
        if info["statename"] in ("STARTING", "RUNNING", "BACKOFF"):
            server.supervisor.stopProcess(name, True)
            say(name, "stopped", started, f"pid {info['pid']}")
        (data / "run" / f"{name}.pid").unlink(missing_ok=True)
    if not any(info["statename"] in supervise.STATES_UP for info in server.supervisor.getAllProcessInfo()):
        server.supervisor.shutdown()
        wait_until(lambda: not supervise.paths(data)[1].exists(), what="supervisord to shut down", timeout=30)


def _stop_unsupervised(data: Path, names: list[str]) -> None:
    """Programs left without their supervisord (it was killed): end each one's process group."""
    for name in names:
        pidfile = data / "run" / f"{name}.pid"
        pid = read_pid(pidfile)
        started = time.monotonic()
        if pid and supervise.end_process_group(pid, grace=supervise.GRACE_SECONDS):
            say(name, "stopped", started, f"pid {pid} (it had no supervisord)")
        pidfile.unlink(missing_ok=True)


def status(config: Config) -> int:
    """Each program's state and uptime, as supervisord sees it (`make status`)."""
    if not supervise.running(config.data_dir):
        print(f"{'programs':<12} {'down':<6} supervisord is not running (make up)")
        return 1
    infos = supervise.client(config.data_dir).supervisor.getAllProcessInfo()
    for info in infos:
        print(f"{info['name']:<20} {info['statename']:<9} {info['description']}")
    core = [i for i in infos if i["name"] in (*SERVICES, *BACKGROUND)]
    return 0 if all(i["statename"] == "RUNNING" for i in core) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hdms-processes")
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("names", nargs="*", default=[], help=f"any of {', '.join([*SERVICES, *BACKGROUND, *OBSERVABILITY])}")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - {*SERVICES, *BACKGROUND, *OBSERVABILITY})
    if unknown:
        parser.error(f"unknown program(s): {', '.join(unknown)}")
    config = Config.load()
    if args.command == "status":
        return status(config)
    if args.command == "start":
        observed = config.get("HDMS_OBSERVABILITY", "false").lower() in ("1", "true", "yes", "on")
        start(config, args.names or [*SERVICES, *BACKGROUND, *(OBSERVABILITY if observed else ())])
    else:
        stop(config, list(reversed(args.names or [*SERVICES, *BACKGROUND, *OBSERVABILITY])))
    return 0


if __name__ == "__main__":
    cli(main)
