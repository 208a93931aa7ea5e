"""The in-cluster agent (issue 15, item 5) on the local control plane, without a container runtime.

`agent manifests` is validated with a server-side dry run, its ServiceAccount and RBAC are applied for real, and
the agent process runs on the host with exactly what its pod would get: the Deployment's own args and environment,
a ServiceAccount token, the CA and the namespace at /var/run/secrets/kubernetes.io/serviceaccount (a private mount
namespace, so nothing on the host changes), KUBERNETES_SERVICE_HOST/PORT, and no kubeconfig. The audit log shows
every write made as the ServiceAccount; RBAC refuses it anything the repository does not hold.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from cli_helpers import ROOT, gitops
from cluster_helpers import audit_mark, cluster_state, kubectl, kubectl_json, writes_since
from source_helpers import GitRepo
from sync_helpers import configmap, deployment, ok

pytestmark = pytest.mark.e2e

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def can(user: str, verb: str, resource: str, ns: str | None) -> bool:
    where = ["-n", ns] if ns else []
    return kubectl("auth", "can-i", verb, resource, *where, "--as", user, check=False).stdout.strip() == "yes"


def mount_namespaces_work() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", "mount -t tmpfs none /run"],
                           capture_output=True, timeout=30, check=False)
    return probe.returncode == 0


def test_agent_manifests_dry_run_and_the_agent_runs_as_its_service_account(tmp_path: Path, namespace: str) -> None:
    if not mount_namespaces_work():
        pytest.skip("needs root and mount namespaces (unshare -m) to place the token where a pod has it")
    ns = namespace
    repo = GitRepo.create(tmp_path / "ops")
    repo.write("config.yaml", configmap("settings", ns, value="from-agent"))
    repo.write("web.yaml", deployment("web", ns, replicas=1))
    repo.commit("app")
    bare = tmp_path / "ops.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo.path), str(bare)], check=True)
    url = f"file://{bare}"
    app = f"agent-{ns[-6:]}"

    proc = ok(gitops("agent", "manifests", "--repo", url, "--app", app, "--agent-namespace", ns, "--self-heal",
                     cwd=tmp_path))
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    kinds = [d["kind"] for d in docs]
    assert kinds == ["Namespace", "ServiceAccount", "Role", "RoleBinding", "Deployment"], kinds  # no ClusterRole
    role = next(d for d in docs if d["kind"] == "Role")
    granted = {(g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert granted == {("", "secrets"), ("coordination.k8s.io", "leases"), ("", "events"), ("events.k8s.io", "events"),
                       ("", "configmaps"), ("apps", "deployments")}, granted
    deploy = docs[-1]
    assert deploy["spec"]["replicas"] == 2
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:2] == ["sync", "--watch"] and "--self-heal" in container["args"]
    assert ok(gitops("agent", "manifests", "--containerfile", cwd=tmp_path)).stdout.startswith("# The kubectl-gitops")

    manifest = tmp_path / "agent.yaml"
    manifest.write_text(proc.stdout)
    dry = kubectl("apply", "--dry-run=server", "-f", str(manifest))
    assert "deployment.apps/kubectl-gitops-" in dry.stdout and "(server dry run)" in dry.stdout
    rbac_only = [d for d in docs if d["kind"] in ("ServiceAccount", "Role", "RoleBinding")]
    kubectl("apply", "-f", "-", input=yaml.safe_dump_all(rbac_only))
    sa = f"kubectl-gitops-{app}"
    user = f"system:serviceaccount:{ns}:{sa}"
    assert can(user, "patch", "configmaps", ns) and can(user, "update", "leases.coordination.k8s.io", ns)
    assert not can(user, "delete", "namespaces", None) and not can(user, "create", "configmaps", "default")
    assert not can(user, "create", "pods", ns)  # only the kinds the repository holds

    # what the pod gets: the token, the CA and the namespace at SA_DIR; the service host and port
    secrets = tmp_path / "sa"
    secrets.mkdir()
    (secrets / "token").write_text(kubectl("create", "token", sa, "-n", ns, "--duration", "1h").stdout.strip())
    state = cluster_state()
    shutil.copy(state["ca"], secrets / "ca.crt")
    (secrets / "namespace").write_text(ns)
    server = urlsplit(state["server"])
    env = {"PATH": f"{ROOT / 'bin'}:{os.environ['PATH']}", "KUBERNETES_SERVICE_HOST": str(server.hostname),
           "KUBERNETES_SERVICE_PORT": str(server.port), "NO_COLOR": "1"}
    for item in container["env"]:  # the Deployment's own environment; emptyDirs become folders here
        if "value" in item:
            env[item["name"]] = item["value"]
    env.update({"POD_NAME": f"{sa}-7d9c-x1", "HOME": str(tmp_path / "home"), "KUBECTL_GITOPS_CACHE":
                str(tmp_path / "cache")})
    (tmp_path / "home").mkdir()
    args = ["--once" if a == "--watch" else "127.0.0.1:0" if a.startswith("0.0.0.0:") else a
            for a in container["args"]]
    script = (f"mount -t tmpfs none /run && mkdir -p {SA_DIR} && cp {secrets}/* {SA_DIR}/ && "
              f"exec kubectl-gitops {' '.join(args)}")
    mark = audit_mark()
    run = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=240, check=False)
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"
    events = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert any(e["type"] == "watch.synced" for e in events), run.stdout
    leading = next(e for e in events if e["type"] == "watch.leading")
    assert leading["holder"].startswith(f"pod/{sa}-7d9c-x1/")  # the pod's name, as in a pod
    assert kubectl_json("get", "configmap", "settings", "-n", ns)["data"]["value"] == "from-agent"
    writes = [w for w in writes_since(mark, user_agent_prefix=None, leases=True) if w.namespace == ns
              and not w.dry_run and w.user.startswith("system:serviceaccount:")]
    assert writes and {w.user for w in writes} == {user}, writes
    assert {w.resource for w in writes} >= {"configmaps", "deployments", "secrets", "leases"}
    doc = json.loads(ok(gitops("status", app, "--record-namespace", ns, "-o", "json", cwd=tmp_path)).stdout)
    assert doc["phase"] == "Synced" and doc["by"] == "watch"


def test_one_agent_for_several_apps_covers_every_app_and_passes_a_server_dry_run(tmp_path: Path,
                                                                                  namespace: str) -> None:
    """`agent manifests URL PATH PATH`: one Deployment running `sync --watch PATH PATH` (no --app: each app's name
    is derived), RBAC covering the kinds of both apps; accepted by the API server's dry run."""
    ns = namespace
    repo = GitRepo.create(tmp_path / "ops")
    repo.write("web/web.yaml", deployment("web", ns, replicas=1))
    repo.write("config/config.yaml", configmap("settings", ns, value="x"))
    repo.commit("two apps")
    bare = tmp_path / "ops.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo.path), str(bare)], check=True)
    url = f"file://{bare}"
    proc = ok(gitops("agent", "manifests", "--repo", url, "web", "config", "--name", "shop", "--agent-namespace", ns,
                     cwd=tmp_path))
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    role = next(d for d in docs if d["kind"] == "Role")
    granted = {(g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert {("", "configmaps"), ("apps", "deployments")} <= granted, granted
    deploy = docs[-1]
    assert deploy["metadata"]["name"] == "kubectl-gitops-shop"
    args = deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:4] == ["sync", "--watch", "web", "config"] and "--app" not in args and "--path" not in args, args
    manifest = tmp_path / "agent.yaml"
    manifest.write_text(proc.stdout)
    dry = kubectl("apply", "--dry-run=server", "-f", str(manifest))
    assert "deployment.apps/kubectl-gitops-shop" in dry.stdout and "(server dry run)" in dry.stdout
    refused = gitops("agent", "manifests", "--repo", url, "web", "config", "--app", "x", cwd=tmp_path)
    assert refused.returncode == 2 and "--app names one app" in refused.stderr
