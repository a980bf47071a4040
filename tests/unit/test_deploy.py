"""The deployment files in deploy/: example policy files, Dockerfiles, compose, the Helm chart.

No Docker engine runs here, so images and compose are checked as files: every policy file
(the examples, the compose and GPU configs, the chart's rendered ConfigMap) goes through the
real settings loader and `gateway check`, and validates against the committed JSON Schema;
compose and the Dockerfiles are parsed and held to the runtime contract (non-root, read-only
root filesystem with declared writable paths, health checks on /healthz, no baked-in keys).

The Helm chart is checked at two depths. Always, without any tool: every `.Values.a.b`
a template reads must exist in values.yaml (a typo renders as empty in Helm and is easy to
miss), and the probe paths and the read-only root filesystem are asserted on the template
text. With the `helm` binary (`.ci/run` installs it; these tests skip when it is absent), the
chart is linted (`helm lint --strict`) and rendered (`helm template`) with its defaults and
with variants, and the rendered manifests are asserted on: probes, security context, emptyDir
volumes, DBOS__VMID from the pod name, HPA and PDB, the Secret carrying every variable the
policy file names, and the rendered policy file passing the loader. A hand-written subset
renderer was rejected: it would test our renderer, not Helm's.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from gateway.cli import main as gateway_main
from gateway.settings.loader import load_settings, parse_settings
from gateway.settings.yaml_load import load_yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "switchyard"
EXAMPLES = sorted((DEPLOY / "examples").glob("*.yaml"))
POLICY_FILES = [*EXAMPLES, DEPLOY / "compose" / "gateway.yaml", DEPLOY / "gateway.gpu.yaml"]
REQUIRED_EXAMPLES = {"local-only", "cloud-with-local-fallback", "multi-tenant", "tools"}
IN_IMAGE_WORKFLOWS = "/etc/gateway/workflows"  # where both Dockerfiles copy deploy/workflows
SECRETISH = re.compile(r"(KEY|TOKEN|PASSWORD|SECRET)", re.IGNORECASE)


# --- policy files ----------------------------------------------------------------------------


def _named_variables(node: Any) -> set[str]:
    """Every environment variable a policy document names (`*_env` keys, `headers_env`)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and key.endswith("_env"):
                if isinstance(value, str):
                    found.add(value)
                elif isinstance(value, dict):
                    found.update(v for v in value.values() if isinstance(v, str))
            found |= _named_variables(value)
    elif isinstance(node, list):
        for item in node:
            found |= _named_variables(item)
    return found


def _fake_env(document: Any) -> dict[str, str]:
    env = dict.fromkeys(_named_variables(document), "fake-value")
    if (document.get("workflows") or {}).get("dir") == IN_IMAGE_WORKFLOWS:
        env["GATEWAY__WORKFLOWS__DIR"] = str(DEPLOY / "workflows")
    return env


def _json_ready(node: Any) -> Any:
    """YAML timestamps (`expires:`) as the strings a JSON editor would validate."""
    if isinstance(node, dict):
        return {k: _json_ready(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_json_ready(v) for v in node]
    if isinstance(node, dt.datetime | dt.date):
        return node.isoformat().replace("+00:00", "Z")
    return node


@pytest.fixture(scope="module")
def schema_validator() -> jsonschema.protocols.Validator:
    schema = json.loads((DEPLOY / "gateway.schema.json").read_text())
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(schema)
    return cls(schema)


def test_the_common_setups_have_examples() -> None:
    assert {p.stem for p in EXAMPLES} >= REQUIRED_EXAMPLES


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_policy_file_loads_and_matches_the_schema(
    path: Path, schema_validator: jsonschema.protocols.Validator
) -> None:
    document = load_yaml(path.read_text())
    load_settings(path, env=_fake_env(document))
    errors = [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in schema_validator.iter_errors(_json_ready(document))
    ]
    assert not errors, errors


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_gateway_check_passes_without_warnings(
    path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)  # the examples' relative paths (./deploy/workflows, ./data)
    for name, value in _fake_env(load_yaml(path.read_text())).items():
        monkeypatch.setenv(name, value)
    assert gateway_main(["check", str(path)]) == 0
    assert "warning" not in capsys.readouterr().err


def test_the_tools_example_offers_every_gateway_tool() -> None:
    settings = load_settings(DEPLOY / "examples" / "tools.yaml", env={})
    offered = {tool for model in settings.models for tool in model.tools}
    assert {"verify", "search_knowledge", "run_workflow"} <= offered


def test_the_multi_tenant_example_limits_keys_and_redacts_pii() -> None:
    document = load_yaml((DEPLOY / "examples" / "multi-tenant.yaml").read_text())
    assert document["auth"]["required"] is True
    assert document["tenants"] and all(key.get("limits") for key in document["keys"])
    pii = [p["pii"] for p in document["policies"].values() if "pii" in p]
    assert pii and all(p["input"] in {"redact", "pseudonymize"} for p in pii)


# --- Dockerfiles -----------------------------------------------------------------------------


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    pairs = [(*w.split(None, 1), "")[:2] for w in logical]
    return [(op.upper(), args) for op, args in pairs]


def _final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    return instructions[last_from:]


def _ignored(path: str, patterns: list[str]) -> bool:
    """.dockerignore semantics, as far as our files use them: the last matching line wins."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern.lstrip("!").rstrip("/")
        if body == "**" or fnmatch(path, body) or path.startswith(body + "/"):
            ignored = not negate
    return ignored


DOCKERFILES = [DEPLOY / "Dockerfile", DEPLOY / "Dockerfile.cuda"]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_runtime_contract(path: Path) -> None:
    instructions = _instructions(path)
    text = path.read_text()
    final = _final_stage(instructions)
    users = [args for op, args in final if op == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}, "the image must not run as root"
    assert users[-1].split(":")[0].isdigit(), "a numeric USER lets runAsNonRoot verify it"
    health = [args for op, args in final if op == "HEALTHCHECK"]
    assert health and "/healthz" in health[0]
    volumes = " ".join(args for op, args in final if op == "VOLUME")
    assert "/tmp" in volumes and "/var/lib/gateway" in volumes
    workdir = [args for op, args in final if op == "WORKDIR"][-1]
    assert workdir.startswith("/var/lib/gateway"), "the working directory must be writable"
    assert not re.search(r"^\s*ADD\s+(--\S+\s+)*https?://", text, re.MULTILINE | re.IGNORECASE)
    for op, args in instructions:
        if op in {"ENV", "ARG"}:
            for name, value in re.findall(r"(\w+)=(\"[^\"]*\"|\S*)", args):
                assert not (SECRETISH.search(name) and value.strip('"')), (
                    f"{op} {name} bakes a secret"
                )
    assert "--require-hashes -r deploy/requirements-models.txt" in text
    assert "EXPOSE 8080" in text


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_bases_are_pinned_and_copies_exist(path: Path) -> None:
    instructions = _instructions(path)
    args = dict(
        a.split("=", 1) for op, a in instructions if op == "ARG" and "=" in a and '"' not in a
    )
    stages = {a.split()[-1] for op, a in instructions if op == "FROM" and " AS " in a.upper()}
    ignore = (path.parent / f"{path.name}.dockerignore").read_text().splitlines()
    patterns = [p.strip() for p in ignore if p.strip() and not p.startswith("#")]
    for op, a in instructions:
        if op == "FROM":
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], a.split()[0])
            if image in stages:
                continue
            assert ":" in image and not image.endswith(":latest"), f"unpinned base {image}"
        if op == "COPY" and "--from=" not in a:
            *sources, _dest = shlex.split(a)
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such path"
                assert not _ignored(source.rstrip("/"), patterns), f"{source} is .dockerignored"


def test_cuda_dockerfile_builds_llama_cpp_with_cuda() -> None:
    text = (DEPLOY / "Dockerfile.cuda").read_text()
    assert re.search(r'CMAKE_ARGS="[^"]*-DGGML_CUDA=on', text)
    pinned = re.search(r'"llama-cpp-python==([^"]+)"', (ROOT / "pyproject.toml").read_text())
    assert pinned and f"llama-cpp-python=={pinned.group(1)}" in text
    assert "-runtime-" in _final_stage(_instructions(DEPLOY / "Dockerfile.cuda"))[0][1]


# --- compose ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(document, dict)
    return document


def test_compose_has_the_stack(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"gateway", "redis", "postgres", "prometheus", "grafana"}


def test_every_compose_service_is_healthy_and_unprivileged(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name}: no healthcheck"
        assert not service.get("privileged"), f"{name}: privileged"
        assert service.get("read_only") is True, f"{name}: not read_only"
        assert "network_mode" not in service and "pid" not in service, name
        image = service.get("image", "")
        assert service.get("build") or (":" in image and not image.endswith(":latest")), name
        for dependency in service.get("depends_on", {}):
            assert dependency in compose["services"], f"{name} depends on {dependency}"
        for secret in service.get("secrets", []):
            assert secret in compose.get("secrets", {}), f"{name}: undefined secret {secret}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source} missing"
            else:
                assert source in compose.get("volumes", {}), f"{name}: volume {source}"


def test_compose_gateway_is_non_root_read_only_and_configured(compose: dict[str, Any]) -> None:
    gateway = compose["services"]["gateway"]
    assert gateway["user"].split(":")[0] not in {"0", "root"}
    assert gateway["read_only"] is True and "ALL" in gateway["cap_drop"]
    assert any(t.split(":")[0] == "/tmp" for t in gateway["tmpfs"])
    assert "/healthz" in " ".join(gateway["healthcheck"]["test"])
    env = gateway["environment"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in gateway["volumes"]}
    config = DEPLOY / mounts[env["GATEWAY_CONFIG"]]
    document = load_yaml(config.read_text())
    missing = _named_variables(document) - set(env)
    assert not missing, f"the policy file names variables compose does not set: {missing}"
    settings = load_settings(config, env=_fake_env(document))
    data_volume = next(t for t, s in mounts.items() if not s.startswith("."))
    assert settings.rag is not None and settings.rag.path.startswith(data_volume)
    assert settings.workflows is not None and settings.workflows.data_dir.startswith(data_volume)
    for value in env.values():  # keys come from the environment, never literal in the file
        assert not re.fullmatch(r"sk-\w+", str(value))


def test_prometheus_scrapes_the_gateway_with_the_admin_key(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "switchyard")
    assert job["metrics_path"] == "/metrics"
    secret = Path(job["authorization"]["credentials_file"]).name
    assert secret in compose["services"]["prometheus"]["secrets"]
    assert "/etc/prometheus/alerts.yaml" in config["rule_files"]
    provider = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "switchyard.yaml").read_text()
    )
    mounted = dict(v.split(":")[1::-1] for v in compose["services"]["grafana"]["volumes"])
    assert mounted[provider["providers"][0]["options"]["path"]] == "./grafana/dashboards"


def test_monitoring_files_are_valid_where_present() -> None:
    """The dashboard and the alert rules are another change's files: checked once they exist."""
    datasource = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text()
    )
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    dashboard = DEPLOY / "grafana" / "dashboards" / "gateway.json"
    if dashboard.exists():
        assert "panels" in json.loads(dashboard.read_text())
    alerts = DEPLOY / "prometheus" / "alerts.yaml"
    if alerts.exists():
        groups = yaml.safe_load(alerts.read_text())["groups"]
        assert all(rule.get("expr") for group in groups for rule in group["rules"])


# --- Helm chart: static checks (no binary needed) --------------------------------------------


def _values() -> dict[str, Any]:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert isinstance(values, dict)
    return values


def _templates() -> Iterator[Path]:
    yield from sorted((CHART / "templates").glob("*.yaml"))
    yield from sorted((CHART / "templates").glob("*.tpl"))
    yield CHART / "templates" / "NOTES.txt"


def test_every_values_reference_is_defined() -> None:
    values = _values()
    for template in _templates():
        for reference in re.findall(r"\.Values((?:\.\w+)+)", template.read_text()):
            node: Any = values
            for key in reference.strip(".").split("."):
                assert isinstance(node, dict) and key in node, (
                    f"{template.name}: .Values{reference} is not in values.yaml"
                )
                node = node[key]


def test_deployment_template_probes_and_filesystem() -> None:
    text = (CHART / "templates" / "deployment.yaml").read_text()
    assert re.search(r"livenessProbe:\s*\n\s*httpGet: \{path: /healthz,", text)
    assert re.search(r"readinessProbe:\s*\n\s*httpGet: \{path: /readyz,", text)
    assert _values()["securityContext"]["readOnlyRootFilesystem"] is True
    assert "fieldPath: metadata.name" in text


# --- Helm chart: lint and render with the real binary ----------------------------------------

HELM = shutil.which("helm")
needs_helm = pytest.mark.skipif(HELM is None, reason="helm is not installed (.ci/run installs it)")


def _helm(*args: str) -> subprocess.CompletedProcess[str]:
    assert HELM is not None
    return subprocess.run(
        [HELM, *args], cwd=CHART, capture_output=True, text=True, timeout=120, check=False
    )


def _render(*sets: str) -> dict[str, dict[str, Any]]:
    run = _helm("template", "gw", ".", *(a for s in sets for a in ("--set", s)))
    assert run.returncode == 0, run.stderr
    docs = [d for d in yaml.safe_load_all(run.stdout) if d]
    return {d["kind"]: d for d in docs}


@needs_helm
def test_helm_lint_is_strictly_clean() -> None:
    run = _helm("lint", "--strict", ".")
    assert run.returncode == 0, run.stdout + run.stderr


@needs_helm
def test_rendered_chart_runs_replicas_safely() -> None:
    manifests = _render()
    assert {"Deployment", "Service", "ConfigMap", "Secret", "HorizontalPodAutoscaler"} <= set(
        manifests
    )
    assert {"PodDisruptionBudget", "ServiceAccount"} <= set(manifests)
    assert manifests["HorizontalPodAutoscaler"]["apiVersion"] == "autoscaling/v2"
    metric = manifests["HorizontalPodAutoscaler"]["spec"]["metrics"][0]["resource"]
    assert metric["name"] == "cpu"
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    env = {e["name"]: e for e in container["env"]}
    assert env["DBOS__VMID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    data_dir = _values()["dataDir"]["mountPath"]
    assert "emptyDir" in volumes[mounts[data_dir]]

    config_mount = Path(env["GATEWAY_CONFIG"]["value"])
    assert volumes[mounts[str(config_mount.parent)]]["configMap"]
    text = manifests["ConfigMap"]["data"][config_mount.name]
    document = load_yaml(text)
    settings = parse_settings(document, "configmap", _fake_env(document))
    assert settings.state.redis_url_env and settings.workflows is not None
    assert settings.workflows.data_dir.startswith(data_dir)
    assert settings.rag is not None and settings.rag.path.startswith(data_dir)
    provided = set(manifests["Secret"]["stringData"] or {}) | set(env)
    missing = {settings.state.redis_url_env, settings.workflows.database_url_env} - provided
    assert not missing, f"no Secret key for {missing}"


@needs_helm
def test_rendered_chart_with_ingress_keys_and_existing_secrets() -> None:
    manifests = _render(
        "ingress.enabled=true",
        "secrets.env.OPENAI_API_KEY=sk-test",
        "redis.existingSecret=shared-redis",
        "metrics.serviceMonitor.enabled=true",
    )
    backend = manifests["Ingress"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend["service"]["name"] == manifests["Service"]["metadata"]["name"]
    assert manifests["Secret"]["stringData"]["OPENAI_API_KEY"] == "sk-test"
    assert "GATEWAY_REDIS_URL" not in manifests["Secret"]["stringData"]
    container = manifests["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    redis = next(e for e in container["env"] if e["name"] == "GATEWAY_REDIS_URL")
    assert redis["valueFrom"]["secretKeyRef"]["name"] == "shared-redis"
    assert manifests["ServiceMonitor"]["spec"]["endpoints"][0]["path"] == "/metrics"


@needs_helm
@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["redis.url="], "shared Redis"),
        (["postgres.url="], "one Postgres"),
        (["securityContext.readOnlyRootFilesystem=false"], "readOnlyRootFilesystem"),
    ],
)
def test_chart_refuses_unsafe_values(sets: list[str], message: str) -> None:
    run = _helm("template", "gw", ".", *(a for s in sets for a in ("--set", s)))
    assert run.returncode != 0 and message in run.stderr


@needs_helm
def test_one_replica_may_run_without_shared_state() -> None:
    manifests = _render("autoscaling.enabled=false", "replicaCount=1", "redis.url=")
    assert "PodDisruptionBudget" not in manifests and "HorizontalPodAutoscaler" not in manifests
    assert manifests["Deployment"]["spec"]["replicas"] == 1
