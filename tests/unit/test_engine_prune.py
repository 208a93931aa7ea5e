"""Prune against the fake API server of tests/fakes.py: listing the members (one LIST per kind and namespace,
metadata only), deleting them batch by batch with the listed uid as a precondition, and the paths a real
cluster rarely shows: an object replaced since it was listed, one already gone, a refused delete, a finalizer
that never finishes, a kind that cannot be listed inside a Namespace, a Lease lost or a signal mid-prune,
members outside an --include selection."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest
from fakes import FakeApiServer, fake_cluster

from kubectl_gitops.cluster.client import Cluster
from kubectl_gitops.engine import interrupt
from kubectl_gitops.engine.hooks import LABEL_HOOK, LABEL_RUN
from kubectl_gitops.engine.inventory import LABEL_PART_OF, AppRef, Scope
from kubectl_gitops.engine.lease import LeaseLostError
from kubectl_gitops.engine.prune import PruneOptions, check_attributed, select
from kubectl_gitops.engine.prune_delete import execute
from kubectl_gitops.engine.prune_hooks import find_leftover_hooks
from kubectl_gitops.engine.prune_listing import Listing, list_members, list_namespace_contents
from kubectl_gitops.engine.prune_sources import FileSelection
from kubectl_gitops.errors import RefusedError
from kubectl_gitops.model import ResourceKey

APP = AppRef("web", "team-a")
FAST = PruneOptions(timeout=0.05, poll_interval=0.001)


@pytest.fixture(autouse=True)
def _clean_flag() -> Iterator[None]:
    interrupt.reset()
    yield
    interrupt.reset()


def put(server: FakeApiServer, kind: str, name: str, namespace: str = "team-a", *, ours: bool = True,
        api: str = "v1", annotations: dict[str, str] | None = None, labels: dict[str, str] | None = None,
        **meta: Any) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name, "annotations": annotations or {},
                         "labels": {**({LABEL_PART_OF: APP.id} if ours else {}), **(labels or {})}, **meta}
    if namespace:
        m["namespace"] = namespace
    return server.put({"apiVersion": api, "kind": kind, "metadata": m})


def listed(cluster: Cluster, kinds: set[str], namespaces: set[str] | None = None) -> Listing:
    return list_members(cluster, APP, Scope(frozenset(kinds), frozenset(namespaces or set())))


def prune(cluster: Cluster, desired: set[ResourceKey] = frozenset(), kinds: set[str] = frozenset({"ConfigMap"}),  # type: ignore[assignment]
          opts: PruneOptions = FAST) -> Any:
    listing = listed(cluster, kinds)
    sel = select(listing.members, desired, APP.id, opts)
    return execute(cluster, APP, sel.delete, listing.types, opts)


def lists(server: FakeApiServer) -> list[tuple[str, str]]:
    return [(k, ns) for m, k, ns, _ in server.log if m == "LIST"]


# --- listing -----------------------------------------------------------------------------------------------------

def test_members_are_listed_once_per_kind_and_namespace_by_label_and_unserved_kinds_are_named() -> None:
    cluster, server = fake_cluster()
    put(server, "ConfigMap", "mine")
    put(server, "ConfigMap", "mine-too", "team-b")
    put(server, "ConfigMap", "theirs", ours=False)
    put(server, "Namespace", "team-b", "")
    listing = listed(cluster, {"ConfigMap", "Namespace", "Gadget.example.org"}, {"team-b"})
    assert sorted(k.name for k, _ in listing.members) == ["mine", "mine-too", "team-b"]
    assert sorted(lists(server)) == [("ConfigMap", "team-a"), ("ConfigMap", "team-b"), ("Namespace", "")]
    assert listing.unserved == ["Gadget.example.org"] and listing.lists == 3
    assert all(o["kind"] in ("ConfigMap", "Namespace") and "data" not in o for _, o in listing.members)


def test_a_kind_in_four_namespaces_is_listed_once_across_the_cluster_keeping_only_recorded_namespaces() -> None:
    cluster, server = fake_cluster()
    spaces = {"team-a", "team-b", "team-c", "team-d"}
    for ns in spaces:
        put(server, "ConfigMap", f"mine-{ns}", ns)
    put(server, "ConfigMap", "planted", "elsewhere")  # carries the app's label, outside its namespaces
    put(server, "ConfigMap", "theirs", "team-b", ours=False)
    listing = listed(cluster, {"ConfigMap"}, spaces - {"team-a"})  # team-a: the record's own namespace
    assert sorted(k.name for k, _ in listing.members) == sorted(f"mine-{ns}" for ns in spaces)
    assert lists(server) == [("ConfigMap", "")] and listing.lists == 1


def test_a_runner_refused_the_list_across_the_cluster_lists_each_namespace() -> None:
    cluster, server = fake_cluster()
    spaces = {"team-a", "team-b", "team-c", "team-d"}
    for ns in spaces:
        put(server, "ConfigMap", f"mine-{ns}", ns)
    server.fail("LIST", "ConfigMap", namespace="", status=403, message="cannot list configmaps at the cluster scope")
    listing = listed(cluster, {"ConfigMap"}, spaces)
    assert sorted(k.name for k, _ in listing.members) == sorted(f"mine-{ns}" for ns in spaces)
    # the refused LIST across the cluster, then one per namespace
    assert sorted(lists(server)) == sorted([("ConfigMap", "")] + [("ConfigMap", ns) for ns in spaces])
    assert listing.lists == 4


def test_listing_reads_every_page() -> None:
    cluster, server = fake_cluster()
    for i in range(7):
        put(server, "ConfigMap", f"c{i}")
    from kubectl_gitops.engine.prune_listing import list_objects

    objs = list_objects(cluster, server.type_of("ConfigMap"), "team-a", selector=APP.selector, metadata_only=True,
                        page_size=3)
    assert len(objs) == 7 and len(lists(server)) == 3


# --- deleting ------------------------------------------------------------------------------------------------------

def test_members_that_left_git_are_deleted_and_the_rest_stay() -> None:
    cluster, server = fake_cluster()
    put(server, "ConfigMap", "keep")
    put(server, "ConfigMap", "old")
    put(server, "ConfigMap", "foreign", ours=False)
    out = prune(cluster, {ResourceKey("", "ConfigMap", "team-a", "keep")})
    assert out.ok and [k.name for k in out.deleted] == ["old"]
    assert server.names("ConfigMap") == ["foreign", "keep"] and cluster.writes == 1


def test_an_object_replaced_since_it_was_listed_is_left_alone() -> None:
    cluster, server = fake_cluster()
    put(server, "ConfigMap", "old")
    listing = listed(cluster, {"ConfigMap"})
    server.finish_deletion("ConfigMap", "old", "team-a")  # someone deletes it and creates another of that name
    new = put(server, "ConfigMap", "old")
    sel = select(listing.members, set(), APP.id, FAST)
    out = execute(cluster, APP, sel.delete, listing.types, FAST)
    assert [k.name for k in out.replaced] == ["old"] and out.deleted == [] and out.ok
    live = server.obj("ConfigMap", "old", "team-a")
    assert live is not None and live["metadata"]["uid"] == new["metadata"]["uid"]


def test_an_object_gone_since_it_was_listed_is_reported_as_gone_already() -> None:
    cluster, server = fake_cluster()
    put(server, "ConfigMap", "old")
    listing = listed(cluster, {"ConfigMap"})
    server.finish_deletion("ConfigMap", "old", "team-a")
    out = execute(cluster, APP, select(listing.members, set(), APP.id, FAST).delete, listing.types, FAST)
    assert [k.name for k in out.gone_already] == ["old"] and out.ok and cluster.writes == 0


def test_a_refused_delete_fails_that_object_only() -> None:
    cluster, server = fake_cluster()
    for n in ("a", "b", "c"):
        put(server, "ConfigMap", n)
    server.fail("DELETE", "ConfigMap", "b", status=403, reason="Forbidden", message="configmaps \"b\" is forbidden")
    out = prune(cluster)
    assert not out.ok and [(k.name, "forbidden" in m) for k, m in out.failed] == [("b", True)]
    assert sorted(k.name for k in out.deleted) == ["a", "c"] and server.names("ConfigMap") == ["b"]
    assert [k.name for k in out.still_present] == ["b"]


def test_a_deletion_that_never_finishes_stops_before_the_later_batches() -> None:
    cluster, server = fake_cluster()
    put(server, "Deployment", "web", api="apps/v1", finalizers=["example.com/stuck"])
    put(server, "ConfigMap", "conf")  # deleted after the Deployment (reverse of apply order)
    out = prune(cluster, kinds={"Deployment.apps", "ConfigMap"})
    assert [k.name for k in out.remaining] == ["web"] and [k.name for k in out.not_attempted] == ["conf"]
    assert not out.ok and server.names("ConfigMap") == ["conf"]
    web = server.obj("Deployment", "web", "team-a")
    assert web is not None and web["metadata"].get("deletionTimestamp")


def test_a_delete_whose_answer_was_lost_is_sent_again_and_meets_404() -> None:
    cluster, server = fake_cluster()
    put(server, "ConfigMap", "old")
    server.fail("DELETE", "ConfigMap", "old", reset="after")
    out = prune(cluster)
    # DELETE is idempotent: the second try finds it gone, which a prune reports as gone, not as a failure
    assert out.ok and [k.name for k in out.gone_already] == ["old"] and server.names("ConfigMap") == []


def test_a_lease_lost_mid_prune_deletes_nothing_more() -> None:
    cluster, server = fake_cluster()
    for n in ("a", "b"):
        put(server, "ConfigMap", n)
    put(server, "Secret", "s")

    def guard() -> None:
        if cluster.writes >= 1:
            raise LeaseLostError("lost the Lease: taken over by eve@x")

    cluster.write_guard = guard
    with pytest.raises(LeaseLostError):
        prune(cluster, kinds={"ConfigMap", "Secret"}, opts=PruneOptions(timeout=0.05, poll_interval=0.001,
                                                                         concurrency=1))
    assert cluster.writes == 1 and len(server.names("ConfigMap")) + len(server.names("Secret")) == 2


def test_a_signal_mid_prune_stops_before_the_next_delete() -> None:
    cluster, server = fake_cluster()
    put(server, "ConfigMap", "a")
    put(server, "Secret", "s")
    server.fail("DELETE", "ConfigMap", before=lambda: interrupt.request(signal.SIGINT))  # arrives during batch 1
    with pytest.raises(interrupt.Interrupted):
        prune(cluster, kinds={"ConfigMap", "Secret"})
    assert server.names("Secret") == ["s"] and server.names("ConfigMap") == []


# --- Namespaces, hooks, selections -------------------------------------------------------------------------------

def test_a_kind_that_cannot_be_listed_keeps_a_namespace_alive() -> None:
    cluster, server = fake_cluster()
    put(server, "Namespace", "apps", "")
    server.fail("LIST", "Pod", namespace="apps", status=403, reason="Forbidden", times=None)
    contents = list_namespace_contents(cluster, ["apps"])
    assert any("cannot list pods: 403" in o["metadata"]["name"] for o in contents["apps"])
    listing = listed(cluster, {"Namespace"})
    sel = select(listing.members, set(), APP.id, FAST, namespace_contents=contents)
    assert sel.delete == [] and "cannot list pods" in sel.kept[0].reason


def test_an_empty_namespace_is_deleted_after_its_contents() -> None:
    cluster, server = fake_cluster()
    put(server, "Namespace", "apps", "")
    put(server, "ConfigMap", "c", "apps")
    put(server, "ConfigMap", "kube-root-ca.crt", "apps", ours=False)  # the cluster's own: does not count
    contents = list_namespace_contents(cluster, ["apps"])
    listing = listed(cluster, {"Namespace", "ConfigMap"}, {"apps"})
    sel = select(listing.members, set(), APP.id, FAST, namespace_contents=contents)
    assert [c.key.kind for c in sel.delete] == ["ConfigMap", "Namespace"]
    out = execute(cluster, APP, sel.delete, listing.types, FAST)
    assert out.ok and server.names("Namespace") == []


def test_finished_hook_copies_of_other_runs_are_found_as_leftovers() -> None:
    cluster, server = fake_cluster()
    ann = {"argocd.argoproj.io/hook": "PostSync", "argocd.argoproj.io/hook-delete-policy": "HookSucceeded"}
    put(server, "Job", "smoke-1", api="batch/v1", labels={LABEL_HOOK: "h1", LABEL_RUN: "r1"}, annotations=ann)
    server.mark_ready("Job", "smoke-1", "team-a")  # finished: its policy deletes it
    put(server, "Job", "smoke-2", api="batch/v1", labels={LABEL_HOOK: "h2", LABEL_RUN: "r2"},
        annotations=ann)  # still running: kept
    listing = listed(cluster, {"Job.batch"})
    sel = select(listing.members, set(), APP.id, FAST)
    assert sorted(c.key.name for c in sel.kept) == ["smoke-1", "smoke-2"]
    find_leftover_hooks(cluster, sel, listing.types)
    assert [c.key.name for c in sel.hooks] == ["smoke-1"] and [c.key.name for c in sel.kept] == ["smoke-2"]
    assert sel.hooks[0].note.startswith("leftover hook: succeeded")


def test_members_outside_the_selection_are_not_pruned_and_unknown_sources_refuse() -> None:
    cluster, server = fake_cluster()
    for n in ("in-sel", "out-sel", "unknown"):
        put(server, "ConfigMap", n)
    sources = {"in-sel": "file:apps/web/cm.yaml", "out-sel": "file:apps/db/cm.yaml"}
    files = FileSelection.of(["web/**"], [], "apps")
    listing = listed(cluster, {"ConfigMap"})
    sel = select(listing.members, set(), APP.id, FAST, covers=lambda k: files.covers(sources.get(k.name)))
    assert [c.key.name for c in sel.delete] == ["in-sel"] and sel.outside == 1
    assert [k.name for k in sel.unattributed] == ["unknown"]
    with pytest.raises(RefusedError, match="no recorded source file"):
        check_attributed(sel, files, APP)
    assert cluster.writes == 0
