"""`make images`: a Docker engine to build on, the offline image set and the app image.

The compose files name every image by a variable defaulting to the upstream image a user with
Docker Hub pulls (`POSTGRES_IMAGE=postgres:17.2-bookworm`, ...). A machine that reaches no image
registry (CI here, air-gapped sites) builds stand-ins from Debian trixie's packages on a
`debootstrap` base instead (docker/offline/README.md says what each honours), and points those
variables at them (`OFFLINE`). The app image (the repository's Dockerfile) builds on either base.

The engine: when no `docker info` answers and we are root, Debian's `docker.io` is installed and
started as `dockerd --iptables=false ...` (this workplace has no NAT), with Compose v2 from Debian
trixie's `docker-compose` package (bookworm's is the retired Python v1); `Engine.stop` stops only
an engine this module started.

Standard library only: it runs before any virtualenv exists.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .stack.config import EXIT_BINARY, EXIT_START, REPO, StackError, cli

SUITE = "trixie"
MIRROR = "http://deb.debian.org/debian"
BASE = f"hdms-offline/debian:{SUITE}"
APP = "hdms/app:local"
# The compose variable -> (offline tag, folder under docker/offline/).
OFFLINE_SET = {
    "POSTGRES_IMAGE": (f"hdms-offline/postgres:17-{SUITE}", "postgres"),
    "PGBOUNCER_IMAGE": (f"hdms-offline/pgbouncer:1.24-{SUITE}", "pgbouncer"),
    "REDIS_IMAGE": (f"hdms-offline/redis:8.0-{SUITE}", "redis"),
    "NGINX_IMAGE": (f"hdms-offline/nginx:1.26-{SUITE}", "nginx"),
}
OFFLINE = {variable: tag for variable, (tag, _) in OFFLINE_SET.items()} | {"HDMS_BASE_IMAGE": BASE}
COMPOSE_DEB = "docker-compose"  # from trixie: Compose v2, a CLI plugin
DOCKERD_ARGS = ["--iptables=false", "--ip6tables=false", "--ip-masq=false"]


def say(message: str) -> None:
    print(f"images: {message}", flush=True)


def docker(*args: str, check: bool = True, quiet: bool = False, **kwargs) -> subprocess.CompletedProcess:
    if not quiet:
        say("+ docker " + " ".join(args))
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    result = subprocess.run(["docker", *args], **kwargs)
    if check and result.returncode != 0:
        raise StackError(f"`docker {' '.join(args[:3])} ...` failed (exit {result.returncode})", EXIT_START)
    return result


def answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def has_image(tag: str) -> bool:
    return docker("image", "inspect", tag, check=False, quiet=True, capture_output=True).returncode == 0


def apt_install(*packages: str) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    missing = [p for p in packages if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    if missing:
        say(f"installing {' '.join(missing)} from Debian")
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, stdin=subprocess.DEVNULL)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], env=env, check=True, stdin=subprocess.DEVNULL
        )


def install_compose_plugin() -> None:
    """Compose v2 from Debian trixie's package, fetched with a private apt state (the machine's
    sources stay as they are); its one dependency is libc6."""
    installed = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", COMPOSE_DEB], capture_output=True, text=True)
    if installed.returncode == 0 and installed.stdout.startswith("2."):
        return
    with tempfile.TemporaryDirectory(prefix="hdms-apt-") as tmp:
        root = Path(tmp)
        (root / "lists" / "partial").mkdir(parents=True)
        (root / "sources.list").write_text(
            f"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {MIRROR} {SUITE} main\n"
        )
        options = [
            f"-oDir::Etc::SourceList={root / 'sources.list'}",
            "-oDir::Etc::SourceParts=/nonexistent",
            f"-oDir::State::Lists={root / 'lists'}",
            "-oDir::Cache::pkgcache=",
            "-oDir::Cache::srcpkgcache=",
            "-oAPT::Sandbox::User=root",
        ]
        say(f"installing Compose v2 ({COMPOSE_DEB} from Debian {SUITE})")
        subprocess.run(
            ["apt-get", *options, "-q", "update"], check=True, cwd=root, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
        )
        subprocess.run(["apt-get", *options, "-q", "download", COMPOSE_DEB], check=True, cwd=root, stdin=subprocess.DEVNULL)
        deb = next(root.glob(f"{COMPOSE_DEB}_*.deb"))
        subprocess.run(["dpkg", "-i", str(deb)], check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


class Engine:
    """A Docker engine that answers: the one already running, or one started here (and only that
    one stopped again)."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.log = Path(tempfile.gettempdir()) / "hdms-dockerd.log"

    def why_not(self) -> str | None:
        """None when an engine can be had here, else the one-line reason."""
        if answers():
            return None
        if os.geteuid() != 0:
            return "no Docker engine answers `docker info`, and only root may install and start one"
        if not shutil.which("apt-get"):
            return "no Docker engine answers and this machine has no apt-get to install Debian's docker.io"
        return None

    def ensure(self) -> None:
        reason = self.why_not()
        if reason:
            raise StackError(reason, EXIT_BINARY)
        if not answers():
            apt_install("docker.io", "debootstrap")
            say(f"starting dockerd {' '.join(DOCKERD_ARGS)} (log {self.log})")
            with self.log.open("ab") as log:
                process = subprocess.Popen(
                    ["dockerd", *DOCKERD_ARGS],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            self.pid = process.pid
            deadline = time.monotonic() + 60
            while not answers():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise StackError(f"dockerd did not start (see {self.log})", EXIT_START)
                time.sleep(0.5)
        if os.geteuid() == 0:
            apt_install("debootstrap")
            install_compose_plugin()
        if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0:
            raise StackError("`docker compose` (Compose v2) is missing: install Debian trixie's docker-compose", EXIT_BINARY)

    def stop(self) -> None:
        if self.pid is None:
            return
        say(f"stopping the dockerd this run started (pid {self.pid})")
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        for _ in range(60):
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                break
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, os.WNOHANG)
            time.sleep(0.5)
        self.pid = None


def build_base() -> None:
    """Debian trixie minbase from debootstrap, imported as an image (~30 s, once per engine)."""
    if has_image(BASE):
        return
    if not shutil.which("debootstrap"):
        raise StackError("debootstrap is missing: apt-get install -y debootstrap", EXIT_BINARY)
    with tempfile.TemporaryDirectory(prefix="hdms-rootfs-") as tmp:
        rootfs = Path(tmp) / SUITE
        say(f"debootstrap --variant=minbase {SUITE} (the offline base)")
        subprocess.run(
            ["debootstrap", "--variant=minbase", SUITE, str(rootfs), MIRROR],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man"):
            shutil.rmtree(rootfs / junk, ignore_errors=True)
        # As Debian's own slim images: apt keeps no caches, dpkg installs no documentation or locales.
        (rootfs / "etc/apt/apt.conf.d/docker-clean").write_text(
            'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };\n'
            'Dir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\nAPT::Keep-Downloaded-Packages "false";\n'
        )
        (rootfs / "etc/dpkg/dpkg.cfg.d/docker-slim").write_text(
            "".join(f"path-exclude /usr/share/{d}/*\n" for d in ("doc", "man", "info", "locale", "lintian", "linda"))
            + "path-include /usr/share/doc/*/copyright\n"
        )
        for cache in (rootfs / "var/cache/apt").glob("*.bin"):
            cache.unlink()
        shutil.rmtree(rootfs / "usr/share/locale", ignore_errors=True)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        docker("import", "--change", 'CMD ["/bin/bash"]', "-", BASE, stdin=tar.stdout, stdout=subprocess.DEVNULL)
        tar.wait()


def context_digest(folder: Path) -> str:
    """What an offline image is built from: a changed recipe means a rebuild, not a stale image."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def image_label(tag: str, label: str) -> str | None:
    if not has_image(tag):
        return None
    out = docker(
        "image", "inspect", "--format", f'{{{{index .Config.Labels "{label}"}}}}', tag, quiet=True, capture_output=True, text=True
    )
    return out.stdout.strip() or None


def build_offline() -> None:
    build_base()
    for tag, folder in OFFLINE_SET.values():
        context = REPO / "docker" / "offline" / folder
        digest = context_digest(context)
        if image_label(tag, "hdms.recipe") != digest:
            docker(
                "build",
                "--network",
                "host",
                "--build-arg",
                f"BASE_IMAGE={BASE}",
                "--label",
                f"hdms.recipe={digest}",
                "-t",
                tag,
                str(context),
            )


def build_app(base: str = BASE, tag: str = APP) -> None:
    """The repository's Dockerfile. pip inside the build trusts what the host trusts: the host's CA
    bundle is handed to the build stage only (a network that intercepts TLS, as here), never to the
    image that runs."""
    bundle = Path(os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt")
    staged = REPO / ".build" / "pip-ca.crt"
    staged.parent.mkdir(exist_ok=True)
    if bundle.is_file():
        shutil.copyfile(bundle, staged)
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    try:
        docker(
            "build", "--network", "host", "--build-arg", f"BASE_IMAGE={base}",
            "--build-arg", f"HDMS_COMMIT={commit or 'unknown'}", "-t", tag, str(REPO),
        )  # fmt: skip
    finally:
        staged.unlink(missing_ok=True)


def image_size(tag: str) -> int:
    out = docker("image", "inspect", "--format", "{{.Size}}", tag, quiet=True, capture_output=True, text=True).stdout
    return int(out.strip())


def main(argv: list[str] | None = None) -> int:
    """`python -m hdms_tools.images [offline|app|all]`: build (default all) and print the variables
    that point compose at the offline set."""
    what = (argv or sys.argv[1:] or ["all"])[0]
    if what not in ("offline", "app", "all"):
        print("usage: python -m hdms_tools.images [offline|app|all]", file=sys.stderr)
        return 2
    Engine().ensure()
    if what in ("offline", "all"):
        build_offline()
    if what in ("app", "all"):
        build_base()
        build_app()
        say(f"{APP}: {image_size(APP) / 1e6:.0f} MB")
    print("# the offline set: put these in .env (or the environment) to use it")
    for variable, tag in OFFLINE.items():
        print(f"{variable}={tag}")
    return 0


if __name__ == "__main__":
    cli(main)
