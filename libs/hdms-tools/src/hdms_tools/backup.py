"""`make backup` / `make restore BACKUP=…`: every service database, the media files and the
broker's queued tasks, with a manifest (sizes, checksums, versions).

A backup is one directory, `$BACKUP_DIR/hdms-<UTC time>/`:

- `hdms_<service>.dump`: pg_dump, custom format, one per service database;
- `media.tar`: the attachments and thumbnails (FILE_STORAGE_DIR);
- `broker.jsonl`: every key of the broker role (Redis DUMP + TTL), so queued and unacknowledged
  Celery tasks survive; the cache and channel layer are not backed up (they are rebuilt);
- `manifest.json`: what each file is, its size and SHA-256, the PostgreSQL, pg_dump and Redis
  versions, the code's commit and each service's last applied migration per app.

Natively pg_dump and pg_restore reach PostgreSQL through its Unix socket as the cluster's owner
(no TCP, as the stack runs it), and a restore recreates each database empty first. In compose the
`backup` service runs this module with BACKUP_PG_HOST=pgbouncer: each database through
PgBouncer's session entry (`hdms_<service>_session`; pg_dump cannot use transaction pooling) as
the service's own role, and a restore replaces what the dump holds (`pg_restore --clean`).

Ownership is not dumped (the restore runs as each service's role, so it owns what it restores, as
after `migrate`), but privileges are: the audit log's append-only REVOKEs come back with it.

Restore replaces everything: it refuses while any program runs, checks every checksum before it
touches anything, then recreates each database from its dump, the media directory from the tar
and the broker's keys. The services start on the restored data with `make up`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import tarfile
import time
from datetime import UTC, datetime
from pathlib import Path

import redis

from hdms_platform.conf.catalogue import REDIS_DB, REDIS_KEY_PREFIX, REDIS_URL_VARIABLE

from . import supervise
from .stack import REPO, SERVICES, Config, NativeStack, StackError, cli, find_postgres_bindir, give_to, run_as_user, say

FORMAT = 1
EXIT_BACKUP = 9


class Postgres:
    """pg_dump / pg_restore / psql as the cluster's owner: natively over the socket, in compose over TCP."""

    def __init__(self, config: Config):
        self.config = config
        self.host = config.get("BACKUP_PG_HOST", "")
        bindir = config.get("BACKUP_PG_BINDIR", "")
        self.bindir = Path(bindir) if bindir else find_postgres_bindir()
        if self.bindir is None:
            raise StackError("no PostgreSQL client tools found (set BACKUP_PG_BINDIR)", EXIT_BACKUP)
        if not self.host:
            stack = NativeStack(config)
            self.prefix = ["runuser", "-u", run_as_user(config).pw_name, "--"] if os.geteuid() == 0 else []
            self.socket_args = ["-h", str(stack.run), "-p", str(stack.pg_port)]

    def target(self, service: str | None) -> tuple[list[str], list[str], dict[str, str]]:
        """(command prefix, connection arguments, environment) for a service's database (None: the
        maintenance database). Over TCP: PgBouncer's session entry as the service's own role."""
        if not self.host:
            return self.prefix, [*self.socket_args, "-d", f"hdms_{service}" if service else "postgres"], dict(os.environ)
        service = service or "user"
        args = ["-h", self.host, "-p", str(self.config.port("BACKUP_PG_PORT", 6432)), "-U", f"hdms_{service}"]
        env = {**os.environ, "PGPASSWORD": self.config.get(f"{service.upper()}_DB_PASSWORD")}
        return [], [*args, "-d", f"hdms_{service}_session"], env

    def run(self, tool: str, service: str | None, *args: str, **kwargs) -> subprocess.CompletedProcess:
        prefix, connection, env = self.target(service)
        result = subprocess.run([*prefix, str(self.bindir / tool), *connection, *args], env=env, **kwargs)
        if result.returncode != 0:
            error = result.stderr.decode() if isinstance(result.stderr, bytes) else (result.stderr or "")
            raise StackError(f"{tool} for {service or 'postgres'} failed: {error.strip()[-500:]}", EXIT_BACKUP)
        return result

    def sql(self, service: str | None, query: str) -> str:
        return self.run("psql", service, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", query, capture_output=True, text=True).stdout


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _broker(config: Config) -> redis.Redis:
    """The broker's server: its own URL when the role was moved (CELERY_BROKER_URL; its user needs
    DUMP and RESTORE), else the shared server's broker db as the admin user."""
    moved = config.get(REDIS_URL_VARIABLE["broker"], "")
    if moved:
        return redis.Redis.from_url(moved)
    host, port = config.get("REDIS_HOST", "127.0.0.1"), config.port("REDIS_PORT", 6379)
    return redis.Redis(
        host=host, port=port, db=REDIS_DB["broker"], username="hdms-admin", password=config.get("REDIS_ADMIN_PASSWORD")
    )


def _commit() -> str:
    """The code's commit: git's answer in a checkout, else the image's HDMS_COMMIT (no git there)."""
    try:
        result = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    except OSError:  # no git on this machine (the app image)
        result = None
    if result is not None and result.returncode == 0:
        return result.stdout.strip()
    return os.environ.get("HDMS_COMMIT", "") or "unknown"


def _other_clients(config: Config) -> list[str]:
    """The programs still connected to the broker's Redis (by their ACL user), this process aside:
    in compose nothing else can tell whether the services and workers are stopped."""
    broker = _broker(config)
    me = broker.client_id()
    apps = {"hdms-cache", "hdms-channels", "hdms-broker"}  # not the admin's health checks nor the exporter
    return sorted(
        {
            f"{c['user']}@{c.get('addr', '?').rsplit(':', 1)[0]}"
            for c in broker.client_list()
            if int(c["id"]) != me and c.get("user") in apps
        }
    )


def _signing_key(config: Config) -> bytes:
    secret = config.get("DJANGO_SECRET_KEY", "")
    if not secret:
        raise StackError("DJANGO_SECRET_KEY is needed to sign and to check a backup's manifest", EXIT_BACKUP)
    return hmac.new(secret.encode(), b"hdms.backup.manifest", hashlib.sha256).digest()  # not the secret itself


def _signature(manifest: dict, config: Config) -> str:
    body = {key: value for key, value in manifest.items() if key != "signature"}
    return hmac.new(_signing_key(config), json.dumps(body, sort_keys=True).encode(), hashlib.sha256).hexdigest()


def sign(manifest: dict, config: Config) -> dict:
    """The manifest with its HMAC-SHA256 (a key derived from DJANGO_SECRET_KEY): the checksums
    say a file is the one listed, the signature that this stack's operator listed it."""
    return {**manifest, "signature": _signature(manifest, config)}


def create(config: Config, target: Path) -> Path:
    started = time.monotonic()
    pg = Postgres(config)
    out = target / f"hdms-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    out.mkdir(parents=True, exist_ok=False)
    out.chmod(0o700)  # dumps hold password hashes (user-service's) and sessions' token hashes
    os.umask(0o077)  # and every file in it 0600, for whoever copies the folder elsewhere
    databases = {}
    for service in SERVICES:
        name = f"hdms_{service}"
        with (out / f"{name}.dump").open("wb") as dump:
            pg.run("pg_dump", service, "--format=custom", "--no-owner", stdout=dump, stderr=subprocess.PIPE)
        rows = pg.sql(service, "SELECT app, max(name) FROM django_migrations GROUP BY app ORDER BY app")
        databases[service] = {"file": f"{name}.dump", "migrations": dict(line.split("|", 1) for line in rows.splitlines())}
    say("backup", "databases", started, ", ".join(f"hdms_{s}" for s in SERVICES))

    media = config.media_dir
    with tarfile.open(out / "media.tar", "w") as tar:
        if media.exists():
            tar.add(media, arcname=".")
    media_files = sum(1 for p in media.rglob("*") if p.is_file()) if media.exists() else 0

    broker = _broker(config)
    keys = 0
    with (out / "broker.jsonl").open("w") as f:
        for key in broker.scan_iter(match=f"{REDIS_KEY_PREFIX['broker']}*", count=500):
            value = broker.dump(key)
            if value is None:
                continue  # gone since the scan
            ttl = broker.pttl(key)
            f.write(
                json.dumps({"key": base64.b64encode(key).decode(), "ttl": max(ttl, 0), "value": base64.b64encode(value).decode()})
                + "\n"
            )
            keys += 1
    say("backup", "media, broker", started, f"{media_files} files, {keys} broker keys")

    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "commit": _commit(),
        "versions": {
            "postgresql": pg.sql(None, "SHOW server_version").strip(),
            "pg_dump": subprocess.run([str(pg.bindir / "pg_dump"), "--version"], capture_output=True, text=True).stdout.strip(),
            "redis": broker.info("server")["redis_version"],
        },
        "databases": databases,
        "media": {"file": "media.tar", "files": media_files},
        "broker": {"file": "broker.jsonl", "keys": keys, "prefix": REDIS_KEY_PREFIX["broker"]},
        "files": {p.name: {"bytes": p.stat().st_size, "sha256": _sha256(p)} for p in sorted(out.iterdir())},
    }
    (out / "manifest.json").write_text(json.dumps(sign(manifest, config), indent=2) + "\n")
    say("backup", "written", started, str(out))
    return out


def check(backup: Path, config: Config) -> dict:
    """The manifest, after checking its signature, every file against it and every broker key
    against the broker's prefix; raises naming the first bad one. Nothing is touched before."""
    manifest_path = backup / "manifest.json"
    if not manifest_path.exists():
        raise StackError(f"{backup} is not a backup: it has no manifest.json", EXIT_BACKUP)
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format") != FORMAT:
        raise StackError(f"{manifest_path}: format {manifest.get('format')!r}, this code reads {FORMAT}", EXIT_BACKUP)
    if not hmac.compare_digest(str(manifest.get("signature", "")), _signature(manifest, config)):
        raise StackError(
            f"{manifest_path}: its signature does not match: changed since it was written, or written by a stack "
            "with another DJANGO_SECRET_KEY (restore with the .env the backup was made with)",
            EXIT_BACKUP,
        )
    for name, expected in manifest["files"].items():
        path = backup / name
        if not path.exists():
            raise StackError(f"{path} is missing (listed in the manifest)", EXIT_BACKUP)
        if path.stat().st_size != expected["bytes"] or _sha256(path) != expected["sha256"]:
            raise StackError(f"{path} does not match its checksum in the manifest: damaged or changed", EXIT_BACKUP)
    prefix = REDIS_KEY_PREFIX["broker"]
    if manifest["broker"]["prefix"] != prefix:
        raise StackError(
            f"{manifest_path}: broker prefix {manifest['broker']['prefix']!r}, this stack's is {prefix!r}", EXIT_BACKUP
        )
    with (backup / manifest["broker"]["file"]).open() as f:
        for line in f:
            key = base64.b64decode(json.loads(line)["key"])
            if not key.startswith(prefix.encode()):
                raise StackError(
                    f"{backup / manifest['broker']['file']}: key {key.decode(errors='replace')!r} is outside the broker's "
                    f"prefix {prefix!r}: refusing to restore it (it would be written as the Redis admin)",
                    EXIT_BACKUP,
                )
    return manifest


def _extract_data(tar: tarfile.TarFile, into: Path) -> None:
    """The archive's files and folders only: no absolute paths, no links out of the directory.
    tarfile's "data" filter says so where the interpreter has it (3.11.4+); Debian 12's 3.11.2
    has not, so there every member is checked here first: regular files and folders with plain
    relative names, nothing else (a media backup holds nothing else)."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(into, filter="data")
        return
    members = tar.getmembers()
    for member in members:
        name = Path(member.name)
        if not (member.isfile() or member.isdir()) or name.is_absolute() or ".." in name.parts:
            raise StackError(
                f"refusing to restore {member.name!r} from the media archive: not a plain file or folder inside it", 1
            )
        member.mode &= 0o750 if member.isdir() else 0o640
    tar.extractall(into, members=members)


def restore(config: Config, backup: Path) -> None:
    started = time.monotonic()
    manifest = check(backup, config)
    if not config.get("BACKUP_PG_HOST", "") and supervise.running(config.data_dir):
        up = [
            i["name"]
            for i in supervise.client(config.data_dir).supervisor.getAllProcessInfo()
            if i["statename"] in supervise.STATES_UP
        ]
        if up:
            raise StackError(f"stop the programs first (make down, then make infra): running now: {', '.join(up)}", EXIT_BACKUP)
    if config.get("BACKUP_PG_HOST", ""):
        connected = _other_clients(config)
        if connected:
            raise StackError(
                "stop the programs first (docker compose stop, keeping pgbouncer and redis): still connected to "
                f"Redis: {', '.join(connected)}",
                EXIT_BACKUP,
            )
    pg = Postgres(config)
    for service, entry in manifest["databases"].items():
        name = f"hdms_{service}"
        with (backup / entry["file"]).open("rb") as dump:
            if pg.host:  # as the service's role through PgBouncer: replace what the dump holds
                pg.run(
                    "pg_restore",
                    service,
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    "--exit-on-error",
                    stdin=dump,
                    stderr=subprocess.PIPE,
                )
                continue
            pg.sql(None, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # natively: a new, empty database
            pg.sql(None, f'CREATE DATABASE "{name}" OWNER "{name}"')
            pg.sql(None, f'REVOKE ALL ON DATABASE "{name}" FROM PUBLIC')
            pg.sql(None, f'GRANT CONNECT, TEMPORARY ON DATABASE "{name}" TO "{name}"')
            pg.run("pg_restore", service, "--no-owner", f"--role={name}", "--exit-on-error", stdin=dump, stderr=subprocess.PIPE)
    say("restore", "databases", started, ", ".join(f"hdms_{s}" for s in manifest["databases"]))

    media = config.media_dir
    if media.exists():
        for child in media.iterdir():
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    media.mkdir(parents=True, exist_ok=True)
    with tarfile.open(backup / manifest["media"]["file"]) as tar:
        _extract_data(tar, media)
    if os.geteuid() == 0:  # natively file-service runs as HDMS_RUN_AS: the restored files are its own
        give_to(run_as_user(config), media)

    broker = _broker(config)
    prefix = REDIS_KEY_PREFIX["broker"]  # the manifest's, checked equal above
    stale = list(broker.scan_iter(match=f"{prefix}*", count=500))
    if stale:
        broker.delete(*stale)
    restored = 0
    with (backup / manifest["broker"]["file"]).open() as f:
        for line in f:
            entry = json.loads(line)
            broker.restore(base64.b64decode(entry["key"]), entry["ttl"], base64.b64decode(entry["value"]), replace=True)
            restored += 1
    say("restore", "media, broker", started, f"{manifest['media']['files']} files, {restored} broker keys")
    say("restore", "done", started, f"from {backup}; start the programs: make up")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hdms-backup", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("create").add_argument("--dir", help="where to write it (default: BACKUP_DIR, else ./backups)")
    sub.add_parser("restore").add_argument("backup", help="a backup directory (hdms-<time>/)")
    sub.add_parser("check").add_argument("backup", help="a backup directory: verify it against its manifest")
    args = parser.parse_args(argv)
    config = Config.load()
    if args.command == "create":
        create(config, Path(args.dir or config.get("BACKUP_DIR", "") or REPO / "backups"))
    elif args.command == "check":
        check(Path(args.backup), config)
        print(f"{args.backup}: the manifest's signature and every file match")
    else:
        restore(config, Path(args.backup))
    return 0


if __name__ == "__main__":
    cli(main)
