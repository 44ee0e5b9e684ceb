"""The native gateway: nginx from Debian's package, rendered from config/nginx/hdms.conf.template.

The same template the compose gateway (the official nginx image) renders with envsubst, so both
route alike. Natively nginx runs as the stack's unprivileged user, on GATEWAY_PORT, with every
path (pid, logs, temp files) under HDMS_DATA_DIR; `make up` starts it with the infrastructure.
"""

from __future__ import annotations

import re
import subprocess
import time

from .config import EXIT_START, REPO, SERVICES, StackError
from .host import port_in_use, process_alive, read_pid, say, wait_until

MULTIPART_OVERHEAD = 1024 * 1024  # form fields and part headers around the file
# The loopback address the native gateway connects to the services from (nginx `proxy_bind`):
# .env.example's TRUSTED_PROXIES names it, so a caller on 127.0.0.1 cannot pass for the gateway.
UPSTREAM_ADDRESS = "127.0.0.2"


def render_template(values: dict[str, str]) -> str:
    """config/nginx/hdms.conf.template with every ${NAME} filled in; a missing one is an error."""
    text = (REPO / "config/nginx/hdms.conf.template").read_text()

    def fill(match: re.Match) -> str:
        if match.group(1) not in values:
            raise StackError(f"the gateway template needs {match.group(1)}", EXIT_START)
        return values[match.group(1)]

    return re.sub(r"\$\{([A-Z_]+)\}", fill, text)


class Gateway:
    def __init__(self, stack):
        self.stack = stack
        self.config = stack.config
        self.dir = stack.data / "gateway"
        self.host = "127.0.0.1"
        self.port = self.config.port("GATEWAY_PORT", 8000)
        self.pidfile = stack.run / "gateway.pid"

    def values(self) -> dict[str, str]:
        upload_limit = int(self.config.get("ATTACHMENT_MAX_BYTES", "10485760")) + MULTIPART_OVERHEAD
        return {
            **{f"HDMS_{s.upper()}_UPSTREAM": f"127.0.0.1:{self.config.service_port(s)}" for s in SERVICES},
            "GATEWAY_LISTEN_CONF": str(self.dir / "listen.conf"),
            "GATEWAY_ACCESS_LOG": str(self.stack.log / "gateway-access.log"),
            "GATEWAY_UPLOAD_MAX_BODY": str(upload_limit),
            "GATEWAY_RESOLVER": "# no resolver: the upstreams are loopback addresses",
            "GATEWAY_PROXY_BIND": f"proxy_bind {self.config.get('GATEWAY_UPSTREAM_ADDRESS', UPSTREAM_ADDRESS)};",
        }

    def write_config(self) -> bool:
        temp = self.dir / "tmp"
        for folder in (self.dir, temp):
            folder.mkdir(parents=True, exist_ok=True)
        self.stack.chown(self.dir)
        self.stack.chown(temp)
        main = (
            "# written by hdms_tools.stack.gateway; edit config/nginx/hdms.conf.template instead\n"
            f"daemon on;\nworker_processes 1;\npid {self.pidfile};\nerror_log {self.stack.log / 'gateway-error.log'} warn;\n"
            "events { worker_connections 4096; }\n"
            "http {\n    default_type application/octet-stream;\n"
            + "".join(f"    {kind}_temp_path {temp / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
            + f"    include {self.dir / 'hdms.conf'};\n}}\n"
        )
        changed = self.stack.write_private(self.dir / "listen.conf", f"listen {self.host}:{self.port};\n")
        changed |= self.stack.write_private(self.dir / "hdms.conf", render_template(self.values()))
        changed |= self.stack.write_private(self.dir / "nginx.conf", main)
        return changed

    def nginx(self, *args: str) -> subprocess.CompletedProcess:
        return self.stack.as_user(
            [
                "nginx",
                "-p",
                str(self.dir),
                "-e",
                str(self.stack.log / "gateway-error.log"),
                "-c",
                str(self.dir / "nginx.conf"),
                *args,
            ]
        )

    def start(self) -> None:
        started = time.monotonic()
        changed = self.write_config()
        test = self.nginx("-t", "-q")
        if test.returncode != 0:
            raise StackError(f"the gateway's nginx configuration is invalid: {test.stderr.strip()[-400:]}", EXIT_START)
        pid = read_pid(self.pidfile)
        if process_alive(pid, "nginx"):
            if changed:
                self.nginx("-s", "reload")
            say("gateway", "reloaded" if changed else "already up", started, f"pid {pid}, http://{self.host}:{self.port}")
            return
        self.pidfile.unlink(missing_ok=True)
        self.stack.check_port(self.host, self.port, "GATEWAY_PORT", "the gateway (nginx)")
        result = self.nginx()
        if result.returncode != 0:
            raise StackError(f"the gateway did not start: {result.stderr.strip()[-400:]}", EXIT_START)
        wait_until(lambda: port_in_use(self.host, self.port), what=f"the gateway on {self.host}:{self.port}")
        say("gateway", "started", started, f"pid {read_pid(self.pidfile)}, http://{self.host}:{self.port}")

    @property
    def running(self) -> bool:
        return process_alive(read_pid(self.pidfile), "nginx")


def gateway_url(config) -> str:
    return f"http://127.0.0.1:{config.port('GATEWAY_PORT', 8000)}"
