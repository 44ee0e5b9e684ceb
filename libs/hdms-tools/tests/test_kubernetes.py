"""deploy/kubernetes, as rendered by kustomize: strict schema validation on two Kubernetes versions,
yamllint, and the guarantees the compose files make, checked on the rendered objects (no cluster runs
here: what a scheduler, a CNI or the operator would do with them is not tested)."""

from __future__ import annotations

import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from hdms_platform.conf.catalogue import SECRET_VARIABLES, SERVICES, service_secrets
from hdms_tools import envfile, kubernetes
from hdms_tools.stack import REPO

BASE = kubernetes.DEPLOY / "base"
VERSIONS = ("1.29.0", "1.33.0")  # the oldest supported by the pinned kubectl and a recent one
OPERATOR_KINDS = {"Cluster", "Database", "Pooler"}  # CloudNativePG's CRDs: no schema to validate against here
WORKLOADS = {"Deployment", "StatefulSet", "Job"}
APP_IMAGE = {
    "dev": "hdms/app:local",
    "prod": "registry.example.com/hdms/app:1.0.0",
    "cnpg": "registry.example.com/hdms/app:1.0.0",
}
# Which service's secrets each HDMS program holds (as tests/test_compose.py's CONTAINER_SERVICE).
PROGRAM_SERVICE = {
    **{f"{s}-service": s for s in SERVICES},
    "file-worker": "file",
    "events-worker": "communication",
    "user-worker": "user",
    "ticket-worker": "ticket",
    "ticket-relay": "ticket",
    "file-relay": "file",
}


@cache
def rendered(overlay: str) -> tuple[dict, ...]:
    return tuple(kubernetes.render(overlay))


def by_kind(overlay: str, kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in rendered(overlay) if o["kind"] == kind}


def workloads(overlay: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in rendered(overlay) if o["kind"] in WORKLOADS}


def pod(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def containers(workload: dict, *, init: bool = True) -> list[dict]:
    spec = pod(workload)
    return [*(spec.get("initContainers", []) if init else []), *spec["containers"]]


def is_app(container: dict, overlay: str) -> bool:
    return container["image"] == APP_IMAGE[overlay]


@pytest.fixture(scope="module")
def secrets(tmp_path_factory) -> dict[str, dict]:
    """The Secrets `python -m hdms_tools.kubernetes secrets` writes from a fresh `make env` file."""
    folder = tmp_path_factory.mktemp("k8s-env")
    envfile.ensure_keys(folder / "jwt-private.pem", folder / "jwt-public.pem")
    text = envfile.render(
        (REPO / ".env.example").read_text(), {"JWT_PRIVATE_KEY_FILE": "jwt-private.pem", "JWT_PUBLIC_KEY_FILE": "jwt-public.pem"}
    )
    (folder / ".env").write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "hdms_tools.kubernetes", "secrets", "--env-file", str(folder / ".env"), "--cnpg"],
        capture_output=True,
        text=True,
        check=True,
    )
    return {s["metadata"]["name"]: s for s in yaml.safe_load_all(done.stdout)}


# -- the manifests are valid ----------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("overlay", kubernetes.OVERLAYS)
def test_every_object_passes_strict_schema_validation(overlay, version):
    objects = rendered(overlay)
    assert len(objects) > 40
    checked = 0
    for obj in objects:
        if obj["kind"] in OPERATOR_KINDS:
            assert overlay == "cnpg", obj["kind"]
            continue
        kubernetes_validate.validate(obj, version, strict=True)  # raises on an unknown or misspelt field
        checked += 1
    assert checked > 40


def test_the_validator_refuses_a_misspelt_field():
    deployment = next(o for o in rendered("prod") if o["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[0], strict=True)


def test_the_sources_pass_yamllint():
    done = subprocess.run(
        [sys.executable, "-m", "yamllint", "-c", str(kubernetes.DEPLOY / ".yamllint"), "--strict", str(kubernetes.DEPLOY)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_configuration_is_configs_own():
    """kustomize reads nothing outside its folder, so config/'s files are copied; a copy that drifts
    from its original fails here (the Kubernetes-only files have no original)."""
    own = {"nginx/listen-kubernetes.conf", "postgres/pg_hba.conf"}
    copies = sorted(str(p.relative_to(BASE / "config")) for p in (BASE / "config").rglob("*") if p.is_file())
    assert len(copies) >= 10
    drifted = [c for c in copies if c not in own and (BASE / "config" / c).read_bytes() != (REPO / "config" / c).read_bytes()]
    assert drifted == []


def test_the_shared_settings_are_composes():
    """The ConfigMap hdms-env holds what compose's x-app environment holds, with compose's defaults,
    but for the values marked `kubernetes:` in app.env; no secret is in it."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["x-app"]["environment"]
    lines = (BASE / "app.env").read_text().splitlines()
    ours = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert set(ours) == {k for k in compose if k not in SECRET_VARIABLES}
    marked = {lines[i].split("=", 1)[0] for i in range(1, len(lines)) if lines[i - 1].startswith("# kubernetes:")}
    for key, value in ours.items():
        default = re.fullmatch(r"\$\{\w+:-(.*)\}", str(compose[key]))
        expected = default.group(1) if default else str(compose[key])
        assert value == expected or key in marked, (key, value, expected)
    assert not set(ours) & set(SECRET_VARIABLES)


# -- secrets, as compose scopes them ----------------------------------------------------------------


def held(workload: dict, secrets: dict[str, dict]) -> tuple[set[str], set[str]]:
    """The secret variables and the Secret files (mounted keys) a workload's containers get."""
    variables, files = set(), set()
    for c in containers(workload):
        for source in c.get("envFrom", []):
            if "secretRef" in source:
                variables |= set(secrets[source["secretRef"]["name"]]["stringData"])
        variables |= {e["name"] for e in c.get("env", []) if e["name"] in SECRET_VARIABLES and e.get("value")}
    for volume in pod(workload).get("volumes", []):
        if "secret" in volume:
            files |= set(secrets[volume["secret"]["secretName"]]["stringData"])
    return variables & set(SECRET_VARIABLES), files


@pytest.mark.parametrize("overlay", kubernetes.OVERLAYS)
def test_each_program_holds_only_its_own_services_secrets(overlay, secrets):
    found = workloads(overlay)
    for name, service in PROGRAM_SERVICE.items():
        variables, files = held(found[name], secrets)
        assert variables <= service_secrets(service), (name, sorted(variables - service_secrets(service)))
        assert f"{service.upper()}_DB_PASSWORD" in variables, name
        assert ("jwt_private" in files) == (service == "user"), name
    beat_variables, beat_files = held(found["beat"], secrets)
    assert beat_variables == {"REDIS_BROKER_PASSWORD"} and beat_files == set()
    migrate_variables, migrate_files = held(found["migrate"], secrets)  # migrates all four: every service's
    assert {f"{s.upper()}_DB_PASSWORD" for s in SERVICES} <= migrate_variables and "jwt_private" in migrate_files


def test_the_secrets_tool_writes_every_secret_the_manifests_name_and_only_those(secrets):
    named = {
        ref
        for overlay in kubernetes.OVERLAYS
        for w in workloads(overlay).values()
        for ref in [
            *(s["secretRef"]["name"] for c in containers(w) for s in c.get("envFrom", []) if "secretRef" in s),
            *(v["secret"]["secretName"] for v in pod(w).get("volumes", []) if "secret" in v),
        ]
    }
    cnpg_roles = {r["passwordSecret"]["name"] for r in by_kind("cnpg", "Cluster")["hdms-pg"]["spec"]["managed"]["roles"]}
    assert set(secrets) == named | cnpg_roles
    assert all(s["type"] == "kubernetes.io/basic-auth" for n, s in secrets.items() if n in cnpg_roles)


def test_the_secrets_tool_names_what_the_env_file_lacks(tmp_path):
    (tmp_path / ".env").write_text("DJANGO_SECRET_KEY=x\n")
    done = subprocess.run(
        [sys.executable, "-m", "hdms_tools.kubernetes", "secrets", "--env-file", str(tmp_path / ".env")],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "USER_DB_PASSWORD" in done.stderr and done.stdout == ""


# -- the network rules --------------------------------------------------------------------------------


def _matches(selector: dict, labels: dict) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for rule in selector.get("matchExpressions", []):
        present = rule["key"] in labels
        if (rule["operator"] == "Exists") != present:
            return False
    return True


def reachable(overlay: str, source: dict, target: dict, port: int) -> bool:
    """May a pod with `source` labels (in this namespace) open `port` on a pod with `target` labels?
    Ingress policies only, as Kubernetes evaluates them: denied once any policy selects the target,
    allowed if one of those allows the source and the port."""
    policies = [p for p in by_kind(overlay, "NetworkPolicy").values() if _matches(p["spec"]["podSelector"], target)]
    if not policies:
        return True
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            ports = [p["port"] for p in rule.get("ports", [])]
            peers = rule.get("from")
            peer_ok = peers is None or any(
                "namespaceSelector" not in peer and _matches(peer.get("podSelector", {}), source) for peer in peers
            )
            if peer_ok and (not ports or port in ports):
                return True
    return False


def labels_of(overlay: str) -> dict[str, dict]:
    return {name: w["spec"]["template"]["metadata"]["labels"] for name, w in workloads(overlay).items()}


@pytest.mark.parametrize("overlay", ("dev", "prod"))
def test_only_pgbouncer_reaches_postgresql_and_only_the_gateway_and_callers_reach_a_service(overlay):
    pods = labels_of(overlay)
    assert by_kind(overlay, "NetworkPolicy")["default-deny-ingress"]["spec"]["podSelector"] == {}
    stranger = {"app.kubernetes.io/name": "debug-shell"}
    for name, labels in [*pods.items(), ("stranger", stranger)]:
        assert reachable(overlay, labels, pods["postgres"], 5432) == (name == "pgbouncer"), name
    callers = {
        "user": set(),
        "ticket": {"communication-service", "file-service", "user-service"},
        "communication": {"user-service"},
        "file": {"user-service"},
    }
    for service in SERVICES:
        target, port = pods[f"{service}-service"], 8001 + SERVICES.index(service)
        allowed = {name for name, labels in pods.items() if reachable(overlay, labels, target, port)}
        assert allowed == {"gateway", *callers[service]}, service
        assert not reachable(overlay, stranger, target, port)
    assert reachable(overlay, stranger, pods["gateway"], 8080)  # the front door: from the Ingress controller
    for server, port in (("pgbouncer", 6432), ("redis", 6379)):
        assert not reachable(overlay, stranger, pods[server], port) and not reachable(
            overlay, pods["gateway"], pods[server], port
        )
        assert reachable(overlay, pods["ticket-service"], pods[server], port) and reachable(
            overlay, pods["migrate"], pods[server], port
        )


def test_with_the_operator_only_its_poolers_reach_postgresql():
    pods = labels_of("cnpg")
    instance, pooler = (
        {"cnpg.io/cluster": "hdms-pg", "cnpg.io/instanceRole": "primary"},
        {"cnpg.io/poolerName": "pgbouncer", "cnpg.io/cluster": "hdms-pg"},
    )
    assert "postgres" not in pods and "pgbouncer" not in pods
    configs = [o["metadata"]["name"] for o in rendered("cnpg") if o["kind"] == "ConfigMap"]
    assert not [c for c in configs if c.startswith(("hdms-postgres", "hdms-pgbouncer"))], configs  # nothing left over
    assert reachable("cnpg", pooler, instance, 5432) and not reachable("cnpg", pods["ticket-service"], instance, 5432)
    assert reachable("cnpg", pods["ticket-service"], pooler, 5432) and not reachable("cnpg", pods["gateway"], pooler, 5432)
    poolers = by_kind("cnpg", "Pooler")
    assert {n: p["spec"]["pgbouncer"]["poolMode"] for n, p in poolers.items()} == {
        "pgbouncer": "transaction",
        "pgbouncer-session": "session",
    }
    env = next(c for c in rendered("cnpg") if c["kind"] == "ConfigMap" and c["metadata"]["name"].startswith("hdms-env"))["data"]
    assert (env["PGBOUNCER_HOST"], env["PGBOUNCER_SESSION_HOST"]) == ("pgbouncer", "pgbouncer-session")


# -- every container ------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", kubernetes.OVERLAYS)
def test_every_container_is_unprivileged_limited_and_probed(overlay):
    for name, workload in workloads(overlay).items():
        spec = pod(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0, name
        assert spec["automountServiceAccountToken"] is False, name
        for c in containers(workload):
            security = c["securityContext"]
            assert security["allowPrivilegeEscalation"] is False and security["capabilities"]["drop"] == ["ALL"], (
                name,
                c["name"],
            )
            assert security["readOnlyRootFilesystem"] is True, (name, c["name"])
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][bound]), (name, c["name"], bound)
        if workload["kind"] == "Job":
            continue
        for c in spec["containers"]:
            assert {"livenessProbe", "readinessProbe", "startupProbe"} <= set(c), (name, c["name"])
        if name.endswith("-service"):
            probes = spec["containers"][0]
            assert probes["livenessProbe"]["httpGet"]["path"] == "/health/live", name
            assert probes["readinessProbe"]["httpGet"]["path"] == "/health/ready", name


@pytest.mark.parametrize("overlay", kubernetes.OVERLAYS)
def test_the_programs_that_must_be_one_are_one_and_never_two_during_an_update(overlay):
    """Beat (one schedule), the events worker (per-ticket order: one per partition, and there is one
    partition) and each outbox relay: one replica, replaced with Recreate, never autoscaled."""
    found, scaled = (
        workloads(overlay),
        {h["spec"]["scaleTargetRef"]["name"] for h in by_kind(overlay, "HorizontalPodAutoscaler").values()},
    )
    for name in ("beat", "events-worker", "ticket-relay", "file-relay"):
        assert found[name]["spec"]["replicas"] == 1 and found[name]["spec"]["strategy"] == {"type": "Recreate"}, name
        assert name not in scaled
    assert [c["command"] for c in containers(found["beat"], init=False)] == [
        ["celery", "-A", "hdms_platform.celery.beat", "beat", "--loglevel", "INFO", "--schedule", "/tmp/celerybeat-schedule"]
    ]
    assert (
        "--concurrency" in (command := containers(found["events-worker"], init=False)[0]["command"])
        and command[command.index("--concurrency") + 1] == "1"
    )


def test_the_web_services_roll_without_losing_capacity_and_scale_in_production():
    found, pdbs = workloads("prod"), by_kind("prod", "PodDisruptionBudget")
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in by_kind("prod", "HorizontalPodAutoscaler").values()}
    for name in [*(f"{s}-service" for s in SERVICES), "gateway"]:
        assert found[name]["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}, name
        assert found[name]["spec"]["replicas"] >= 2 and pdbs[name]["spec"]["minAvailable"] == 1, name
        assert hpas[name]["spec"]["minReplicas"] >= 2 and hpas[name]["spec"]["maxReplicas"] > hpas[name]["spec"]["minReplicas"], (
            name
        )


@pytest.mark.parametrize("overlay", kubernetes.OVERLAYS)
def test_images_come_from_the_overlay_and_the_apps_wait_for_the_migrate_job(overlay):
    found = workloads(overlay)
    for name, workload in found.items():
        for c in containers(workload):
            assert re.fullmatch(r"[\w./-]+:[\w.-]+", c["image"]) and not c["image"].endswith(":latest"), (name, c["image"])
        if name in PROGRAM_SERVICE:
            assert all(is_app(c, overlay) for c in containers(workload)), name
            init = pod(workload)["initContainers"]
            assert [i["name"] for i in init] == ["wait-for-migrations"] and "migrate --check" in init[0]["command"][-1], name
    assert [c["command"] for c in containers(found["migrate"])] == [["bash", "scripts/migrate-all.sh"]]
    assert is_app(containers(found["migrate"])[0], overlay)


def test_the_environment_table_says_what_kubernetes_sets(secrets):
    """docs/environment-variables.md's `K` marks the variables the manifests give HDMS's programs (a
    row may name several variables: each marked row names at least one of them)."""
    rows = []  # (names, readers) of each table row
    for line in (REPO / "docs" / "environment-variables.md").read_text().splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            rows.append((set(re.findall(r"`(\w+)`", cells[0])), cells[-1]))
    documented = {name for names, _ in rows for name in names}
    marked = [names for names, readers in rows if re.search(r"\bK\b", readers)]
    set_here = set()
    for overlay in kubernetes.OVERLAYS:
        shared = [o for o in rendered(overlay) if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("hdms-env")]
        set_here |= set(shared[0]["data"])
        for w in workloads(overlay).values():
            for c in containers(w):
                if is_app(c, overlay):
                    set_here |= {e["name"] for e in c.get("env", [])}
    set_here |= {key for s in secrets.values() if s["type"] == "Opaque" for key in s["stringData"] if key.isupper()}
    set_here -= {"HDMS_PORT"}  # the container's own port, for its health check (compose sets it the same way)
    assert set_here <= documented, sorted(set_here - documented)
    assert set_here <= {name for names in marked for name in names}, sorted(set_here - {n for names in marked for n in names})
    assert all(names & set_here for names in marked), [sorted(names) for names in marked if not names & set_here]


def test_the_pinned_kubectl_is_the_one_rendering():
    version = subprocess.run(
        [str(kubernetes.kubectl()), "version", "--client"], capture_output=True, text=True, check=True
    ).stdout
    assert f"v{kubernetes.KUBECTL_VERSION}" in version and Path(kubernetes.KUBECTL).is_file()
