"""A bare cluster bootstrapped from a Flux-shaped repository (``clusters/dev`` + ``deploy/{base,dev}``), no Flux
installed: a GitRepository and two Kustomizations, one ``dependsOn`` the other, with prune, targetNamespace,
images, postBuild substitution from the Kustomization and from a ConfigMap, and a sops-encrypted Secret.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
import yaml
from apptree_helpers import GIT_BASE, deployment_template
from cli_helpers import gitops
from cluster_helpers import audit_mark, kubectl, kubectl_json, writes_since
from source_helpers import GitRepo
from sync_helpers import Run, parse_run

from kubectl_gitops.cluster.client import Cluster
from kubectl_gitops.settings import ClusterOptions

pytestmark = pytest.mark.e2e
SOPS_VALUE = "CANARY-flux-5e1d"


def flux(kind: str, name: str, namespace: str, spec: dict[str, object]) -> str:
    api = {"GitRepository": "source.toolkit.fluxcd.io/v1", "Kustomization": "kustomize.toolkit.fluxcd.io/v1"}[kind]
    return yaml.safe_dump({"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": namespace},
                           "spec": spec}, sort_keys=False)


def secret_data(ns: str, name: str) -> dict[str, str]:
    """Read in-process (no command output that could show the value)."""
    c = Cluster.connect(ClusterOptions())
    rt = c.discovery.lookup("v1", "Secret")
    assert rt is not None
    obj = c.get(rt, ns, name)
    assert obj is not None, f"Secret {ns}/{name} was not created"
    return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}


class Fleet:
    def __init__(self, tmp_path: Path, namespace: str):
        self.ns = namespace
        self.keys = tmp_path / "keys.txt"
        self.repo = GitRepo.create(tmp_path / "org" / "fleet")
        self.env = {"SOPS_AGE_KEY_FILE": str(self.keys), "KUBECTL_GITOPS_CACHE": str(tmp_path / "cache")}
        self.mirror = ["--repo-mirror", f"{GIT_BASE}={tmp_path / 'org'}"]

    def run(self, command: str, *args: str) -> subprocess.CompletedProcess[str]:
        return gitops(command, "--app", "fleet", "--record-namespace", self.ns, "-n", self.ns, *self.mirror, *args,
                      cwd=self.repo.path, env=self.env)

    def sync(self, *args: str) -> Run:
        return parse_run(self.run("sync", "--path", "clusters/dev", "-o", "json", *args))


@pytest.fixture
def fleet(tmp_path: Path, namespace: str) -> Fleet:
    f = Fleet(tmp_path, namespace)
    repo, ns = f.repo, namespace
    init = gitops("secrets", "init", "--key-file", str(f.keys), "--dir", str(repo.path), cwd=repo.path, env=f.env)
    assert init.returncode == 0, init.stderr
    repo.write("clusters/dev/sources.yaml", flux("GitRepository", "fleet", ns, {
        "interval": "1m", "url": f"{GIT_BASE}/fleet", "ref": {"branch": "main"}}))
    repo.write("clusters/dev/vars.yaml", yaml.safe_dump({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cluster-vars", "namespace": ns},
        "data": {"cluster_name": "dev-1"}}))
    repo.write("clusters/dev/infra.yaml", flux("Kustomization", "infra", ns, {
        "interval": "10m", "sourceRef": {"kind": "GitRepository", "name": "fleet"}, "path": "./deploy/base/infra",
        "prune": True, "targetNamespace": ns, "wait": True, "namePrefix": "core-"}))
    repo.write("clusters/dev/apps.yaml", flux("Kustomization", "apps", ns, {
        "interval": "10m", "sourceRef": {"kind": "GitRepository", "name": "fleet"}, "path": "./deploy/dev",
        "dependsOn": [{"name": "infra"}], "prune": True, "targetNamespace": ns, "timeout": "2m",
        "images": [{"name": "web", "newTag": "2.0"}],
        "patches": [
            {"patch": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n"},
            {"patch": "- op: add\n  path: /metadata/annotations/patched-by\n  value: ${cluster_name}\n",
             "target": {"kind": "ConfigMap", "name": "settings"}}],
        "commonMetadata": {"labels": {"env": "dev"}},
        "postBuild": {"substitute": {"greeting": "hello"},
                      "substituteFrom": [{"kind": "ConfigMap", "name": "cluster-vars"}]},
        "decryption": {"provider": "sops", "secretRef": {"name": "sops-age"}}}))
    repo.write("deploy/base/infra/controller.yaml", deployment_template("controller:1").replace(
        "{{ .Release.Name }}", "infra-controller"))
    repo.write("deploy/dev/web.yaml", deployment_template("web:1.0").replace("{{ .Release.Name }}", "web"))
    repo.write("deploy/dev/settings.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n"
               "  greeting: ${greeting}\n  region: ${region:=eu-west}\n  cluster: ${cluster_name}\n")
    repo.write("deploy/dev/db-secret.yaml", f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n"
               f"stringData:\n  password: {SOPS_VALUE}\n")
    enc = gitops("secrets", "encrypt", "-i", "deploy/dev/db-secret.yaml", cwd=repo.path, env=f.env)
    assert enc.returncode == 0, enc.stderr
    repo.git("branch", "-M", "main")
    repo.commit("fleet")
    return f


def test_a_flux_repository_bootstraps_in_depends_on_order(fleet: Fleet) -> None:
    ns = fleet.ns
    run = fleet.sync()
    assert run.code == 0, run
    starts = {e["app"]: i for i, e in enumerate(run.events) if e["type"] == "app.start"}
    dones = {e["app"]: i for i, e in enumerate(run.events) if e["type"] == "app.done"}
    assert dones["infra"] < starts["apps"], run  # dependsOn: infra is synced and healthy first
    assert {a["app"]: a["status"] for a in run.result["apps"]} == {"fleet": "synced", "infra": "synced",
                                                                   "apps": "synced"}, run.result
    web = kubectl_json("get", "deployment", "web", "-n", ns)
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "web:2.0"  # images
    assert web["metadata"]["labels"]["env"] == "dev"  # commonMetadata
    settings = kubectl_json("get", "configmap", "settings", "-n", ns)["data"]
    assert settings == {"greeting": "hello", "region": "eu-west", "cluster": "dev-1"}  # postBuild
    assert secret_data(ns, "db") == {"password": SOPS_VALUE}  # sops, decrypted with the runner's key
    kubectl("get", "deployment", "core-infra-controller", "-n", ns)  # namePrefix
    assert web["spec"]["replicas"] == 2  # a strategic merge patch
    cm = kubectl_json("get", "configmap", "settings", "-n", ns)
    assert cm["metadata"]["annotations"]["patched-by"] == "dev-1"  # a JSON 6902 patch, then substitution
    for app in ("fleet", "infra", "apps"):
        kubectl("get", "secret", f"kubectl-gitops.{app}", "-n", ns)

    mark = audit_mark()
    again = fleet.sync()
    assert again.code == 0, again
    written = [(w.verb, w.resource, w.name) for w in writes_since(mark)
               if w.namespace == ns and w.resource != "leases" and not w.dry_run]
    assert written == [], written
    diff = fleet.run("diff", "--path", "clusters/dev")
    assert diff.returncode == 0, diff.stdout + diff.stderr

    # prune: true deletes what left Git (with the usual confirmation: --yes without a terminal)
    fleet.repo.git("rm", "-q", "deploy/dev/settings.yaml")
    fleet.repo.commit("settings removed")
    pruned = fleet.sync("--yes")
    assert pruned.code == 0, pruned
    assert kubectl("get", "configmap", "settings", "-n", ns, check=False).returncode != 0
    kubectl("get", "deployment", "web", "-n", ns)


def test_a_depends_on_cycle_is_invalid_input_naming_the_objects(fleet: Fleet) -> None:
    text = (fleet.repo.path / "clusters/dev/infra.yaml").read_text()
    data = yaml.safe_load(text)
    data["spec"]["dependsOn"] = [{"name": "apps"}]
    fleet.repo.write("clusters/dev/infra.yaml", yaml.safe_dump(data))
    fleet.repo.commit("a cycle")
    proc = gitops("waves", "clusters/dev", *fleet.mirror, cwd=fleet.repo.path, env=fleet.env)
    assert proc.returncode == 3, proc.stderr
    assert "Kustomization infra: dependsOn" in proc.stderr and "Kustomization apps: dependsOn" in proc.stderr
    assert "cycle" in proc.stderr


def test_helm_releases_from_a_helm_repository_in_depends_on_order(tmp_path: Path, namespace: str) -> None:
    from apptree_helpers import CHARTS_URL, chart_repository, make_chart
    from source_helpers import HELM_MISSING, find_helm

    helm = find_helm()
    if not helm:
        pytest.skip(HELM_MISSING)
    ns = namespace
    chart = make_chart(tmp_path, "podinfo", "0.1.0", {
        "deploy.yaml": deployment_template(),
        "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cfg\n"
                   "data:\n  color: {{ .Values.color | quote }}\n  size: {{ .Values.size | quote }}\n"}, values={
        "image": "podinfo:default", "color": "blue", "size": "s"})
    repo = GitRepo.create(tmp_path / "org" / "fleet")
    meta = {"namespace": ns}
    repo.write("clusters/dev/repo.yaml", yaml.safe_dump({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
        "metadata": {"name": "charts", **meta}, "spec": {"interval": "1h", "url": CHARTS_URL}}))
    repo.write("clusters/dev/podinfo-values.yaml", yaml.safe_dump({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "podinfo-values", **meta},
        "data": {"values.yaml": "color: green\nsize: m\n"}}))

    def release(name: str, **spec: object) -> str:
        return yaml.safe_dump({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                               "metadata": {"name": name, **meta}, "spec": {
                                   "interval": "10m", "chart": {"spec": {
                                       "chart": "podinfo", "version": "0.1.0",
                                       "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}, **spec}})

    repo.write("clusters/dev/backend.yaml", release("backend", values={"image": "podinfo:6.5"},
                                                     valuesFrom=[{"kind": "ConfigMap", "name": "podinfo-values"}]))
    repo.write("clusters/dev/frontend.yaml", release("frontend", dependsOn=[{"name": "backend"}],
                                                      releaseName="web", values={"size": "l"}))
    repo.commit("helm releases")
    with chart_repository(tmp_path, helm, [chart]) as url:
        proc = gitops("sync", "clusters/dev", "--app", "fleet", "--record-namespace", ns, "-n", ns, "-o", "json",
                      "--repo-mirror", f"{CHARTS_URL}={url}", cwd=repo.path,
                      env={"KUBECTL_GITOPS_HELM": helm, "KUBECTL_GITOPS_CACHE": str(tmp_path / "cache")})
    run = parse_run(proc)
    assert run.code == 0, run
    starts = {e["app"]: i for i, e in enumerate(run.events) if e["type"] == "app.start"}
    dones = {e["app"]: i for i, e in enumerate(run.events) if e["type"] == "app.done"}
    assert dones["backend"] < starts["frontend"], run
    backend = kubectl_json("get", "deployment", "backend", "-n", ns)  # release name: the HelmRelease's name
    assert backend["spec"]["template"]["spec"]["containers"][0]["image"] == "podinfo:6.5"
    assert kubectl_json("get", "configmap", "backend-cfg", "-n", ns)["data"] == {"color": "green", "size": "m"}
    assert kubectl_json("get", "configmap", "web-cfg", "-n", ns)["data"] == {"color": "blue", "size": "l"}
    kubectl("get", "configmap", "podinfo-values", "-n", ns)  # the root app's own object
