"""A bare cluster bootstrapped from a repository of Argo CD Applications (app of apps), with no Argo CD installed.

Shaped like a real bootstrap: an external-dns-like and an external-secrets-like chart (a CRD and a controller) in
wave -2, an ingress-controller-like chart and an ExternalSecret-like custom resource (which needs the CRD of
wave -2) in wave -1, monitoring (kustomize with image and label overrides, CreateNamespace) and a team app (a
chart in Git with values files and parameters) in wave 0. Charts come from a chart repository served on
127.0.0.1, Git sources from local repositories; both are named by made-up URLs mapped with --repo-mirror.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from apptree_helpers import (
    CHARTS_URL,
    GIT_BASE,
    application,
    chart_repository,
    crd,
    deployment_template,
    make_chart,
)
from cli_helpers import gitops
from cluster_helpers import audit_mark, kubectl, kubectl_json, writes_since
from source_helpers import HELM_MISSING, GitRepo, find_helm
from sync_helpers import NEVER_SCHEDULED, Run, parse_run

pytestmark = pytest.mark.e2e


@pytest.fixture
def helm() -> str:
    found = find_helm()
    if not found:
        pytest.skip(HELM_MISSING)
    return found


@dataclass
class Tree:
    platform: GitRepo
    apps: GitRepo
    namespace: str
    env: dict[str, str]
    mirrors: list[str]
    group: str

    def run(self, command: str, *args: str) -> subprocess.CompletedProcess[str]:
        return gitops(command, "--app", "platform", "--record-namespace", self.namespace, "-n", self.namespace,
                      *self.mirrors, *args, cwd=self.platform.path, env=self.env)

    def sync(self, *args: str) -> Run:
        return parse_run(self.run("sync", "--path", "bootstrap", "-o", "json", *args))


@pytest.fixture
def tree(tmp_path: Path, namespace: str, helm: str) -> Iterator[Tree]:
    group = f"es{uuid.uuid4().hex[:8]}.test.kubectl-gitops.dev"
    charts = [
        make_chart(tmp_path, "external-dns", "0.1.0", {"deploy.yaml": deployment_template()},
                   values={"image": "external-dns:default"}),
        make_chart(tmp_path, "external-secrets", "0.1.0", {"deploy.yaml": deployment_template()},
                   crds={"crd.yaml": crd(group, "ExternalSecret", "externalsecrets")}, values={"image": "eso:default"}),
        make_chart(tmp_path, "ingress", "0.1.0", {"deploy.yaml": deployment_template()}, values={"image": "x"}),
    ]
    apps = GitRepo.create(tmp_path / "org" / "apps")
    apps.write("secret-store/store.yaml", yaml.safe_dump({
        "apiVersion": f"{group}/v1", "kind": "ExternalSecret", "metadata": {"name": "db"}, "spec": {"key": "db"}}))
    apps.write("monitoring/kustomization.yaml", "resources: [prometheus.yaml]\n")
    apps.write("monitoring/prometheus.yaml", deployment_template("prom/prometheus:v1").replace(
        "{{ .Release.Name }}", "prometheus"))
    apps.write("team-app/Chart.yaml", "apiVersion: v2\nname: team-app\nversion: 1.0.0\n")
    apps.write("team-app/values.yaml", "image: team:dev\ngreeting: hello\n")
    apps.write("team-app/values-prod.yaml", "image: team:prod\n")
    apps.write("team-app/templates/deploy.yaml", deployment_template())
    apps.write("team-app/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: greeting\n"
               "data:\n  greeting: {{ .Values.greeting | quote }}\n  replicas: {{ .Values.replicas | quote }}\n")
    apps.write("envs/external-dns.yaml", "image: registry.k8s.io/external-dns:v0.14\n")
    apps.git("branch", "-M", "main")
    apps.commit("apps")
    mon = f"{namespace}-mon"
    platform = GitRepo.create(tmp_path / "org" / "platform")
    git_src = {"repoURL": f"{GIT_BASE}/apps.git", "targetRevision": "main"}
    platform.write("bootstrap/external-dns.yaml", application(  # multi-source: a values file from Git
        "external-dns", wave=-2, namespace=namespace, sources=[
            {"repoURL": CHARTS_URL, "chart": "external-dns", "targetRevision": "0.1.0",
             "helm": {"valueFiles": ["$values/envs/external-dns.yaml"]}},
            {**git_src, "ref": "values"}]))
    platform.write("bootstrap/external-secrets.yaml", application(
        "external-secrets", wave=-2, namespace=namespace, source={
            "repoURL": CHARTS_URL, "chart": "external-secrets", "targetRevision": "0.1.0",
            "helm": {"releaseName": "eso", "parameters": [{"name": "image", "value": "eso:v1"}]}}))
    platform.write("bootstrap/ingress.yaml", application(
        "ingress", wave=-1, namespace=namespace, source={
            "repoURL": CHARTS_URL, "chart": "ingress", "targetRevision": "0.1.0",
            "helm": {"values": "image: nginx:1.25\n"}}))
    platform.write("bootstrap/secret-store.yaml", application(
        "secret-store", wave=-1, namespace=namespace, source={**git_src, "path": "secret-store"}))
    platform.write("bootstrap/monitoring.yaml", application(
        "monitoring", namespace=mon, source={**git_src, "path": "monitoring", "kustomize": {
            "images": ["prom/prometheus=quay.io/prometheus/prometheus:v2"], "commonLabels": {"team": "platform"},
            "replicas": [{"name": "prometheus", "count": 2}]}},
        sync_policy={"automated": {"prune": True}, "syncOptions": ["CreateNamespace=true"]}))
    platform.write("bootstrap/team-app.yaml", application(
        "team-app", namespace=namespace, source={**git_src, "path": "team-app", "helm": {
            "valueFiles": ["values-prod.yaml"], "valuesObject": {"greeting": "hi"},
            "parameters": [{"name": "replicas", "value": "3", "forceString": True}]}}))
    platform.commit("bootstrap")
    with chart_repository(tmp_path, helm, charts) as url:
        env = {"KUBECTL_GITOPS_HELM": helm, "KUBECTL_GITOPS_CACHE": str(tmp_path / "cache")}
        mirrors = ["--repo-mirror", f"{GIT_BASE}={tmp_path / 'org'}", "--repo-mirror", f"{CHARTS_URL}={url}"]
        try:
            yield Tree(platform, apps, namespace, env, mirrors, group)
        finally:
            kubectl("delete", "namespace", mon, "--wait=false", "--ignore-not-found")
            kubectl("delete", "crd", f"externalsecrets.{group}", "--wait=false", "--ignore-not-found")


def _image(name: str, namespace: str) -> str:
    d = kubectl_json("get", "deployment", name, "-n", namespace)
    return str(d["spec"]["template"]["spec"]["containers"][0]["image"])


WAVES = {"external-dns": -2, "external-secrets": -2, "ingress": -1, "secret-store": -1, "monitoring": 0,
         "team-app": 0}


def test_a_bare_cluster_is_bootstrapped_from_applications_in_wave_order(tree: Tree) -> None:
    ns = tree.namespace
    run = tree.sync()
    assert run.code == 0, run
    mode = run.of("apps.mode")
    assert mode and mode[0]["expand"] is True and "does not serve" in mode[0]["message"], run
    # order: every app of a wave is done (synced and healthy) before any app of the next wave starts
    starts = {e["app"]: i for i, e in enumerate(run.events) if e["type"] == "app.start"}
    dones = {e["app"]: i for i, e in enumerate(run.events) if e["type"] == "app.done"}
    assert set(WAVES) <= set(starts), run
    for a, wa in WAVES.items():
        for b, wb in WAVES.items():
            if wa < wb:
                assert dones[a] < starts[b], f"{a} (wave {wa}) must be done before {b} (wave {wb}) starts\n{run}"
    statuses = {a["app"]: a["status"] for a in run.result["apps"]}
    assert all(statuses[a] == "synced" for a in WAVES), run.result
    # each child rendered from its own source, with the Application's overrides
    assert _image("external-dns", ns) == "registry.k8s.io/external-dns:v0.14"  # $values/envs/external-dns.yaml
    assert _image("eso", ns) == "eso:v1"  # releaseName and parameters
    assert _image("ingress", ns) == "nginx:1.25"  # helm.values
    assert _image("team-app", ns) == "team:prod"  # valueFiles
    cm = kubectl_json("get", "configmap", "greeting", "-n", ns)
    assert cm["data"] == {"greeting": "hi", "replicas": "3"}  # valuesObject, parameters
    prom = kubectl_json("get", "deployment", "prometheus", "-n", f"{ns}-mon")
    assert prom["spec"]["template"]["spec"]["containers"][0]["image"] == "quay.io/prometheus/prometheus:v2"
    assert prom["metadata"]["labels"]["team"] == "platform"
    assert prom["spec"]["replicas"] == 2  # kustomize.replicas, through kustomize
    kubectl("get", f"externalsecrets.{tree.group}", "db", "-n", ns)  # its CRD came from wave -2
    # every child is a normal app: its own record
    for app in WAVES:
        kubectl("get", "secret", f"kubectl-gitops.{app}", "-n", ns)

    # a re-sync of the unchanged tree writes nothing but the Leases
    mark = audit_mark()
    again = tree.sync("--app-concurrency", "1")
    assert again.code == 0, again
    order = [(e["type"], e["app"]) for e in again.events if e["type"] in ("app.start", "app.done")]
    for i in range(0, len(order) - 1):  # one app at a time: each start is followed by its own done (leaves)
        kind, app = order[i]
        if kind == "app.start" and app in WAVES:
            assert order[i + 1] == ("app.done", app), order
    written = [(w.verb, w.resource, w.namespace, w.name) for w in writes_since(mark)
               if w.namespace in (ns, f"{ns}-mon") and w.resource != "leases" and not w.dry_run]
    assert written == [], written

    # the tree's diff is clean
    diff = tree.run("diff", "--path", "bootstrap")
    assert diff.returncode == 0, diff.stdout + diff.stderr
    assert "app monitoring: in sync" in diff.stderr

    # waves prints the tree, offline
    waves = gitops("waves", "--path", "bootstrap", *tree.mirrors, cwd=tree.platform.path, env=tree.env)
    assert waves.returncode == 0, waves.stderr
    assert "  external-dns  [wave -2]  chart external-dns 0.1.0" in waves.stdout, waves.stdout
    assert "app team-app:" in waves.stdout


def test_a_failed_child_stops_the_later_waves(tree: Tree) -> None:
    bad = deployment_template("x", node_selector=NEVER_SCHEDULED).replace("{{ .Release.Name }}", "stuck")
    tree.apps.write("stuck/deploy.yaml", bad)
    tree.apps.commit("a child that never becomes healthy")
    for f in ("external-dns", "external-secrets", "secret-store"):
        tree.platform.git("rm", "-q", f"bootstrap/{f}.yaml")
    tree.platform.write("bootstrap/stuck.yaml", application(
        "stuck", wave=-1, namespace=tree.namespace,
        source={"repoURL": f"{GIT_BASE}/apps", "targetRevision": "main", "path": "stuck"}))
    tree.platform.commit("stuck")
    run = tree.sync("--wave-timeout", "3s")
    assert run.code == 4, run
    statuses = {a["app"]: a["status"] for a in run.result["apps"]}
    assert statuses["stuck"] == "failed"
    assert statuses["monitoring"] == statuses["team-app"] == "skipped", statuses
    assert kubectl("get", "deployment", "team-app", "-n", tree.namespace, check=False).returncode != 0


def test_unsupported_application_fields_are_all_reported_before_anything_is_written(tree: Tree) -> None:
    tree.platform.write("bootstrap/odd.yaml", application(
        "odd", namespace=tree.namespace, source={"repoURL": f"{GIT_BASE}/apps", "path": "team-app",
                                                  "plugin": {"name": "cmp"}},
        sync_policy={"retry": {"limit": 2}, "syncOptions": ["Replace=true"]}))
    tree.platform.commit("odd")
    proc = tree.run("sync", "--path", "bootstrap")
    assert proc.returncode == 3, proc.stderr
    for field in ("spec.source.plugin", "spec.syncPolicy.retry", "spec.syncPolicy.syncOptions[0]"):
        assert f"Application odd: {field}" in proc.stderr, proc.stderr
    assert "bootstrap/odd.yaml" in proc.stderr
    assert json.dumps([]) == json.dumps([s for s in kubectl_json("get", "secrets", "-n", tree.namespace)["items"]
                                         if s["metadata"]["name"].startswith("kubectl-gitops.")])


def test_a_removed_application_is_deleted_as_a_whole_only_when_pruning_is_allowed(tree: Tree) -> None:
    ns = tree.namespace
    # a PostSync hook object (BeforeHookCreation: it stays after its run); deleting the app deletes it too
    tree.apps.write("monitoring/kustomization.yaml", "resources: [prometheus.yaml, hook.yaml]\n")
    tree.apps.write("monitoring/hook.yaml", yaml.safe_dump({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {
            "name": "after-sync", "annotations": {"argocd.argoproj.io/hook": "PostSync"}}, "data": {"a": "1"}}))
    tree.apps.commit("a hook")
    first = tree.sync()
    assert first.code == 0, first
    kubectl("get", "configmap", "after-sync", "-n", f"{ns}-mon")
    # monitoring has automated.prune, ingress has not
    tree.platform.git("rm", "-q", "bootstrap/monitoring.yaml", "bootstrap/ingress.yaml")
    tree.platform.commit("two apps removed")
    run = tree.sync("--yes")
    assert run.code == 0, run
    statuses = {a["app"]: a for a in run.result["apps"]}
    # deleted as `delete monitoring` would: CreateNamespace's Namespace (Prune=false) stays, so does the record
    assert statuses["monitoring"]["status"] == "deleted, record kept", statuses["monitoring"]
    assert f"Namespace {ns}-mon" in statuses["monitoring"]["message"]
    assert statuses["ingress"]["status"] == "removed, kept", statuses["ingress"]
    assert kubectl("get", "deployment", "prometheus", "-n", f"{ns}-mon", check=False).returncode != 0
    kubectl("get", "namespace", f"{ns}-mon")
    assert kubectl("get", "configmap", "after-sync", "-n", f"{ns}-mon", check=False).returncode != 0
    kubectl("get", "secret", "kubectl-gitops.monitoring", "-n", ns)
    kubectl("get", "deployment", "ingress", "-n", ns)
    kubectl("get", "secret", "kubectl-gitops.ingress", "-n", ns)
    # the kept app is remembered: --prune deletes it later
    pruned = tree.sync("--prune", "--yes")
    assert pruned.code == 0, pruned
    assert {a["app"]: a["status"] for a in pruned.result["apps"]}["ingress"] == "deleted"
    assert kubectl("get", "deployment", "ingress", "-n", ns, check=False).returncode != 0
    assert kubectl("get", "secret", "kubectl-gitops.ingress", "-n", ns, check=False).returncode != 0
    # the tree's history: every app's syncs
    history = json.loads(gitops("history", "--app", "platform", "--record-namespace", ns, "-o", "json",
                                cwd=tree.platform.path).stdout)
    assert {a["app"] for a in history["apps"]} >= {"platform", "external-dns", "team-app"}, history


def test_a_chart_from_an_oci_registry_is_pulled_once_and_cached(tmp_path: Path, namespace: str, helm: str) -> None:
    from apptree_helpers import oci_registry

    chart = make_chart(tmp_path, "metrics", "1.2.3", {"deploy.yaml": deployment_template()},
                       values={"image": "metrics:1"})
    platform = GitRepo.create(tmp_path / "platform")
    platform.write("bootstrap/metrics.yaml", application("metrics", namespace=namespace, source={
        "repoURL": "registry.example.test/charts", "chart": "metrics", "targetRevision": "1.2.3"}))  # Argo: no scheme
    platform.commit("an OCI chart")
    env = {"KUBECTL_GITOPS_HELM": helm, "KUBECTL_GITOPS_CACHE": str(tmp_path / "cache")}

    def sync(where: str) -> Run:
        return parse_run(gitops("sync", "bootstrap", "--app", "root", "--record-namespace", namespace, "-n", namespace,
                                "-o", "json", "--repo-mirror", f"registry.example.test/charts=oci+http://{where}",
                                cwd=platform.path, env=env))

    with oci_registry(helm, [chart], tmp_path) as where:
        run = sync(where)
    assert run.code == 0, run
    assert _image("metrics", namespace) == "metrics:1"
    again = sync(where)  # the registry is gone: the exact version comes from the cache
    assert again.code == 0, again
