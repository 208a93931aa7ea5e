"""The project's own cluster layer against the real API server: discovery, SSA, dry runs, batched reads."""

from __future__ import annotations

import pytest
from cluster_helpers import audit_mark, kubectl_json, writes_since

from kubectl_gitops.cluster.client import ApiError, Cluster
from kubectl_gitops.cluster.live import Target, fetch_live
from kubectl_gitops.model import ResourceKey
from kubectl_gitops.settings import ClusterOptions

pytestmark = pytest.mark.e2e


def _cm(ns: str, name: str, value: str = "1") -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns},
            "data": {"k": value}}


def test_discovery_knows_core_apps_and_scope(cluster) -> None:
    c = Cluster.connect(ClusterOptions())
    assert c.discovery.scope("v1", "ConfigMap") is True
    assert c.discovery.scope("v1", "Namespace") is False
    dep = c.discovery.lookup("apps/v1", "Deployment")
    assert dep is not None and dep.plural == "deployments"
    assert c.discovery.scope("example.com/v1", "Nope") is None
    assert c.namespace == "default"


def test_dry_run_apply_writes_nothing_and_real_apply_writes_once(cluster, namespace) -> None:
    c = Cluster.connect(ClusterOptions(namespace=namespace))
    rt = c.discovery.lookup("v1", "ConfigMap")
    assert rt is not None
    mark = audit_mark()
    merged = c.apply(_cm(namespace, "a"), rt, dry_run=True)
    assert merged["metadata"]["name"] == "a"
    assert c.get(rt, namespace, "a") is None
    c.apply(_cm(namespace, "a"), rt)
    writes = writes_since(mark)
    assert [(w.verb, w.dry_run) for w in writes] == [("patch", True), ("patch", False)]
    assert c.writes == 1 and c.dry_runs == 1
    live = kubectl_json("get", "configmap", "a", "-n", namespace, "--show-managed-fields")
    managers = {m["manager"] for m in live["metadata"]["managedFields"]}
    assert managers == {"kubectl-gitops"}


def test_fetch_live_lists_once_per_type_and_namespace(cluster, namespace) -> None:
    c = Cluster.connect(ClusterOptions(namespace=namespace))
    rt = c.discovery.lookup("v1", "ConfigMap")
    assert rt is not None
    for i in range(5):
        c.apply(_cm(namespace, f"cm{i}"), rt)
    before = c.requests
    keys = [ResourceKey("", "ConfigMap", namespace, f"cm{i}") for i in range(6)]
    live = fetch_live(c, [Target(k, rt) for k in keys])
    assert set(live) == set(keys[:5])  # cm5 does not exist
    assert c.requests - before == 1  # one LIST, no GETs


def test_api_errors_carry_the_servers_message(cluster, namespace) -> None:
    c = Cluster.connect(ClusterOptions(namespace=namespace))
    rt = c.discovery.lookup("v1", "ConfigMap")
    assert rt is not None
    bad = _cm(namespace, "Not_Valid")
    with pytest.raises(ApiError) as err:
        c.apply(bad, rt, dry_run=True)
    assert err.value.status == 422
    assert "Not_Valid" in err.value.message


def test_unknown_context_is_an_input_error(cluster) -> None:
    from kubectl_gitops.errors import ExitCode, InvalidInputError

    with pytest.raises(InvalidInputError) as err:
        Cluster.connect(ClusterOptions(context="no-such-context"))
    assert "no-such-context" in str(err.value) and err.value.exit_code == ExitCode.INVALID_INPUT
    assert "kubectl-gitops-local" in (err.value.hint or "")
