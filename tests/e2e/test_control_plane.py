"""The local control plane behaves like a cluster, seen through the real kubectl.

These are the assumptions every other e2e test builds on: controllers run (Deployments roll out, Jobs
complete, the garbage collector follows owner references), kwok plays the kubelet, and the audit log
tells writes from server-side dry runs.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cluster_helpers import LOCAL_CLUSTER, Cluster, WriteCall, audit_mark, kubectl, kubectl_json, wait_for, writes_since

pytestmark = pytest.mark.e2e


def deployment(name: str, replicas: int = 2) -> str:
    return json.dumps({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]},
            },
        },
    })


def job(name: str, completions: int) -> str:
    return json.dumps({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "completions": completions,
            "parallelism": completions,
            "backoffLimit": 0,
            "template": {"spec": {"restartPolicy": "Never",
                                  "containers": [{"name": "main", "image": "registry.invalid/job:1"}]}},
        },
    })


def configmap(name: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}})


def test_deployment_becomes_available_on_the_fake_nodes(namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=deployment("web", replicas=2))
    kubectl("wait", "-n", namespace, "deployment/web", "--for=condition=Available", "--timeout=60s")

    status = kubectl_json("get", "-n", namespace, "deployment/web")["status"]
    assert status["readyReplicas"] == 2
    pods = kubectl_json("get", "-n", namespace, "pods", "-l", "app=web")["items"]
    assert sorted(p["status"]["phase"] for p in pods) == ["Running", "Running"]
    assert all(p["spec"]["nodeName"].startswith("kwok-node-") for p in pods)  # the scheduler bound them


def test_job_pods_complete_and_the_job_reports_complete(namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=job("migrate", completions=2))
    kubectl("wait", "-n", namespace, "job/migrate", "--for=condition=Complete", "--timeout=60s")

    assert kubectl_json("get", "-n", namespace, "job/migrate")["status"]["succeeded"] == 2
    pods = kubectl_json("get", "-n", namespace, "pods", "-l", "job-name=migrate")["items"]
    assert [p["status"]["phase"] for p in pods] == ["Succeeded", "Succeeded"]


def test_deleting_a_deployment_garbage_collects_its_replicasets_and_pods(namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=deployment("gc", replicas=1))
    kubectl("wait", "-n", namespace, "deployment/gc", "--for=condition=Available", "--timeout=60s")
    assert len(kubectl_json("get", "-n", namespace, "replicasets", "-l", "app=gc")["items"]) == 1

    kubectl("delete", "-n", namespace, "deployment/gc", "--wait=false")  # background propagation: the GC's job

    wait_for("the ReplicaSet and Pod of deployment/gc to be garbage-collected",
             lambda: not kubectl_json("get", "-n", namespace, "replicasets,pods", "-l", "app=gc")["items"])


def test_audit_log_records_a_kubectl_create_as_one_write(namespace: str) -> None:
    mark = audit_mark()
    kubectl("create", "configmap", "audited", "-n", namespace, "--from-literal=k=v")

    writes = writes_since(mark, user_agent_prefix="kubectl/")
    assert [(w.verb, w.resource, w.namespace, w.name, w.dry_run) for w in writes] == [
        ("create", "configmaps", namespace, "audited", False)]
    assert writes[0].code == 201
    # kubectl is not our client: the default filter (User-Agent kubectl-gitops/...) sees none of it.
    assert writes_since(mark) == []


def test_audit_log_default_filter_keeps_our_clients_user_agent(cluster: Cluster, namespace: str) -> None:
    from kubectl_gitops.cluster.client import USER_AGENT
    from kubectl_gitops.cluster.client import Cluster as Client
    from kubectl_gitops.settings import ClusterOptions

    api = Client.connect(ClusterOptions(kubeconfig=cluster.kubeconfig))
    mark = audit_mark()
    api.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", body=json.loads(configmap("ours")))
    api.request("DELETE", f"/api/v1/namespaces/{namespace}/configmaps/ours")

    assert [(w.verb, w.name, w.user_agent.split()[0]) for w in writes_since(mark)] == [
        ("create", "ours", USER_AGENT), ("delete", "ours", USER_AGENT)]


@pytest.mark.parametrize("apply_args", [
    pytest.param([], id="client-side-apply"),
    pytest.param(["--server-side"], id="server-side-apply"),
])
def test_audit_log_marks_server_dry_run_writes_as_dry_run(namespace: str, apply_args: list[str]) -> None:
    mark = audit_mark()
    kubectl("apply", "-n", namespace, "--dry-run=server", *apply_args, "-f", "-", input=configmap("dry"))

    writes: list[WriteCall] = writes_since(mark, user_agent_prefix="kubectl/")
    assert writes, "the dry-run apply should have reached the apiserver as a write call"
    assert all(w.dry_run for w in writes), writes
    assert {(w.resource, w.name) for w in writes} == {("configmaps", "dry")}
    # ... and it changed nothing.
    assert kubectl("get", "configmap", "dry", "-n", namespace, "--ignore-not-found", "-o", "name").stdout == ""


def running_components(cluster: Cluster) -> dict[str, int]:
    """component -> pid, for the components whose pid file names a live process."""
    pids = {f.stem: int(f.read_text()) for f in (cluster.state_dir / "run").glob("*.pid")}
    return {name: pid for name, pid in pids.items() if Path(f"/proc/{pid}").exists()}


def test_local_cluster_up_when_already_up_only_prints_the_environment(cluster: Cluster) -> None:
    before = running_components(cluster)
    assert set(before) == {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

    proc = subprocess.run([str(LOCAL_CLUSTER), "up"], text=True, capture_output=True, timeout=60)

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"export KUBECONFIG={cluster.kubeconfig}\n"
    assert running_components(cluster) == before  # same processes: nothing restarted
