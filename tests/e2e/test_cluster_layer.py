"""The project's own cluster layer against the real API server: discovery, SSA, dry runs, batched reads."""

from __future__ import annotations

import json

import pytest
from cluster_helpers import audit_mark, kubectl, kubectl_json, writes_since

from kubectl_gitops.cluster.client import ApiError, Cluster
from kubectl_gitops.cluster.live import Target, fetch_live, members_key
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


def _spread_app(namespace: str, selector_label: tuple[str, str]) -> tuple[list[str], list[ResourceKey]]:
    """An app of 3 labelled ConfigMaps in each of 4 namespaces (the fixture's and 3 more, deleted by the caller)."""
    extra = [f"{namespace}-w{i}" for i in range(3)]
    for ns in extra:
        kubectl("create", "namespace", ns)
    keys = []
    docs = []
    for ns in [namespace, *extra]:
        for i in range(3):
            cm = _cm(ns, f"cm{i}")
            cm["metadata"]["labels"] = dict([selector_label])
            docs.append(json.dumps(cm))
            keys.append(ResourceKey("", "ConfigMap", ns, f"cm{i}"))
    kubectl("apply", "-f", "-", input='{"apiVersion": "v1", "kind": "List", "items": [' + ",".join(docs) + "]}")
    return extra, keys


def test_an_app_in_many_namespaces_is_read_with_one_labelled_list_per_type(cluster, namespace) -> None:
    extra, keys = _spread_app(namespace, ("test-part-of", "spread"))
    try:
        c = Cluster.connect(ClusterOptions(namespace=namespace))
        rt = c.discovery.lookup("v1", "ConfigMap")
        assert rt is not None
        # one wanted object is not a member yet (to adopt): its namespace is listed as before
        kubectl("create", "configmap", "stranger", "-n", extra[0])
        wanted = [*keys, ResourceKey("", "ConfigMap", extra[0], "stranger")]
        listed: dict = {}
        before = c.requests
        live = fetch_live(c, [Target(k, rt) for k in wanted], listed=listed, selector="test-part-of=spread")
        assert set(live) == set(wanted)
        assert c.requests - before == 2  # the cluster-wide LIST by label, and extra[0]'s LIST
        members = listed[members_key("", "ConfigMap", "test-part-of=spread")]
        assert sorted((o["metadata"]["namespace"], o["metadata"]["name"]) for o in members) == sorted(
            (k.namespace, k.name) for k in keys)
        assert ("", "ConfigMap", extra[0]) in listed and ("", "ConfigMap", namespace) not in listed
        # without the selector: one LIST per namespace, as before
        before = c.requests
        assert set(fetch_live(c, [Target(k, rt) for k in wanted])) == set(wanted)
        assert c.requests - before == 4
    finally:
        for ns in extra:
            kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found")


def test_a_runner_that_may_not_list_across_the_cluster_reads_each_namespace(cluster, namespace) -> None:
    extra, keys = _spread_app(namespace, ("test-part-of", "narrow"))
    user = f"narrow-{namespace}"[:60]
    try:
        for ns in [namespace, *extra]:
            kubectl("create", "role", "read-cm", "--verb=get,list", "--resource=configmaps", "-n", ns)
            kubectl("create", "rolebinding", "read-cm", "--role=read-cm", f"--user={user}", "-n", ns)
        c = Cluster.connect(ClusterOptions(namespace=namespace, as_user=user))
        rt = c.discovery.lookup("v1", "ConfigMap")
        assert rt is not None
        asked: list[str | None] = []
        real_list = c.list

        def spy(rt, ns=None, **kw):
            asked.append(ns)
            return real_list(rt, ns, **kw)

        c.list = spy  # type: ignore[method-assign]
        before = c.requests
        live = fetch_live(c, [Target(k, rt) for k in keys], selector="test-part-of=narrow")
        assert set(live) == set(keys)
        # the cluster-wide LIST was asked for and refused (``requests`` counts answered calls): one per namespace
        assert asked[0] is None and sorted(asked[1:]) == sorted([namespace, *extra])
        assert c.requests - before == 4
    finally:
        for ns in extra:
            kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found")


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
