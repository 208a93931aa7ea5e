"""The app record (engine.inventory + engine.record_merge) against the fake API server of tests/fakes.py: read,
write, the optimistic-locking loop of ``update_record`` (a stale 409 then success, a concurrent writer whose
widening survives, a lost answer whose write had landed, a conflict that never ends), a missing namespace,
parents of other tools, ownership of live objects and readable names of other ApplySets."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import FakeApiServer, fake_cluster

from kubectl_gitops.cluster.client import Cluster, StaleObjectError
from kubectl_gitops.cluster.live import Target, fetch_live
from kubectl_gitops.engine.inventory import (
    ANN_TOOLING,
    LABEL_PART_OF,
    AppRef,
    HistoryEntry,
    Record,
    Scope,
    parent_object,
    read_record,
    update_record,
)
from kubectl_gitops.engine.ownership import conflicts_error, ownership_conflicts, resolve_applyset_names
from kubectl_gitops.engine.record_merge import RecordUpdate, merge_record
from kubectl_gitops.errors import ExitCode, RefusedError
from kubectl_gitops.model import ResourceKey

APP = AppRef("web", "team-a")


def scope(kinds: set[str], namespaces: set[str] = frozenset()) -> Scope:  # type: ignore[assignment]
    return Scope(frozenset(kinds), frozenset(namespaces))


def run_update(base: Record, sc: Scope, run: str, *, exact: bool = False,
               pruned: frozenset[ResourceKey] = frozenset()) -> Any:
    """A run's ``change``: what it wants written, merged with whatever record it is given (run_record.py does so)."""
    calls: list[Record] = []

    def change(fresh: Record) -> Record:
        calls.append(fresh)
        return merge_record(fresh, RecordUpdate(base=base, scope=sc, exact=exact, pruned=pruned,
                                                entry=HistoryEntry(0, "sync", "succeeded", run=run)))

    return change, calls


def parent(server: FakeApiServer) -> dict[str, Any]:
    obj = server.obj("Secret", APP.parent_name, APP.namespace)
    assert obj is not None
    return obj


def recorded(cluster: Cluster) -> Record:
    return read_record(cluster, APP)


def test_the_first_write_creates_the_parent_and_reads_back() -> None:
    cluster, server = fake_cluster()
    base = recorded(cluster)
    assert not base.exists and base.history == ()
    change, _ = run_update(base, scope({"ConfigMap"}, {"team-b"}), "r1")
    written = update_record(cluster, APP, change, current=base)
    back = recorded(cluster)
    assert back.exists and back.resource_version == written.resource_version == parent(server)["metadata"][
        "resourceVersion"]
    assert back.scope == scope({"ConfigMap"}, {"team-a", "team-b"}) and [h.run for h in back.history] == ["r1"]


def test_a_stale_409_on_the_record_write_is_read_again_and_written_once() -> None:
    cluster, server = fake_cluster()
    update_record(cluster, APP, run_update(Record(APP), scope({"ConfigMap"}), "r0")[0])
    base = recorded(cluster)
    other = lambda: server.edit("Secret", APP.parent_name, APP.namespace,  # noqa: E731 - a kubectl annotate
                                lambda o: o["metadata"]["annotations"].update(note="x"))
    server.fail("PATCH", "Secret", APP.parent_name, before=other)
    change, calls = run_update(base, scope({"ConfigMap", "Secret"}), "r1")
    update_record(cluster, APP, change, current=base)
    assert len(calls) == 2 and calls[1].resource_version != base.resource_version
    assert server.written("Secret") == ["PATCH", "PATCH"]  # r0's, then r1's second try
    after = recorded(cluster)
    assert [h.run for h in after.history] == ["r0", "r1"] and after.scope.group_kinds == {"ConfigMap", "Secret"}
    assert parent(server)["metadata"]["annotations"]["note"] == "x"  # the other writer's edit survives


def test_a_concurrent_writers_widening_survives_our_narrowing_prune() -> None:
    cluster, _ = fake_cluster()
    update_record(cluster, APP, run_update(Record(APP), scope({"ConfigMap", "Secret"}, {"team-b"}), "r0")[0])
    base_a = recorded(cluster)  # run A reads, then prunes every Secret
    base_b = recorded(cluster)  # run B reads and adds namespace team-c, first
    update_record(cluster, APP, run_update(base_b, scope({"ConfigMap"}, {"team-c"}), "rb")[0], current=base_b)
    gone = ResourceKey("", "Secret", "team-b", "s")
    change, calls = run_update(base_a, scope({"ConfigMap"}), "ra", exact=True, pruned=frozenset({gone}))
    update_record(cluster, APP, change, current=base_a)
    assert len(calls) == 2  # A's first write met B's resourceVersion: 409, read again, merged
    final = recorded(cluster)
    assert final.scope.namespaces == {"team-a", "team-c"}  # B's namespace kept; team-b held only what A deleted
    assert final.scope.group_kinds == {"ConfigMap"}
    assert [h.run for h in final.history] == ["r0", "rb", "ra"]


def test_a_record_write_whose_answer_was_lost_is_not_appended_twice() -> None:
    cluster, server = fake_cluster()
    update_record(cluster, APP, run_update(Record(APP), scope({"ConfigMap"}), "r0")[0])
    base = recorded(cluster)
    server.fail("PATCH", "Secret", APP.parent_name, reset="after")  # landed; the client sends it again -> 409
    change, calls = run_update(base, scope({"ConfigMap"}), "r1")
    update_record(cluster, APP, change, current=base)
    assert len(calls) == 2 and server.written("Secret") == ["PATCH", "PATCH"]  # r0's and r1's: nothing more
    assert [h.run for h in recorded(cluster).history] == ["r0", "r1"]


def test_a_conflict_that_never_ends_gives_up_after_the_attempts() -> None:
    cluster, server = fake_cluster()
    server.fail("PATCH", "Secret", times=None, status=409, reason="Conflict",
                message='Operation cannot be fulfilled on secrets "x": the object has been modified')
    with pytest.raises(StaleObjectError) as e:
        update_record(cluster, APP, run_update(Record(APP), scope({"ConfigMap"}), "r1")[0], attempts=3)
    assert e.value.hint and "run again" in e.value.hint
    assert sum(m == "PATCH" for m, *_ in server.log) == 3 and server.written() == []


def test_a_change_that_adds_nothing_writes_nothing() -> None:
    cluster, server = fake_cluster()
    update_record(cluster, APP, run_update(Record(APP), scope({"ConfigMap"}), "r0")[0])
    before = len(server.effects)
    same = update_record(cluster, APP, lambda r: r)
    assert len(server.effects) == before and same.exists


def test_a_record_namespace_that_does_not_exist_is_refused_with_a_hint() -> None:
    cluster, server = fake_cluster()
    server.require_namespaces = True
    with pytest.raises(RefusedError) as e:
        update_record(cluster, APP, run_update(Record(APP), scope({"ConfigMap"}), "r0")[0])
    assert "namespace team-a does not exist" in e.value.message and "--record-namespace" in (e.value.hint or "")
    assert e.value.exit_code == ExitCode.REFUSED and server.written() == []


def test_a_parent_of_another_tool_is_refused_on_read() -> None:
    cluster, server = fake_cluster()
    obj = parent_object(Record(APP))
    obj["metadata"]["annotations"][ANN_TOOLING] = "kubectl/v1.32"
    server.put(obj)
    with pytest.raises(RefusedError, match="managed by 'kubectl'"):
        recorded(cluster)


def test_live_objects_of_other_owners_are_ownership_conflicts() -> None:
    cluster, server = fake_cluster()
    other = AppRef("api", "team-b")
    cm = server.type_of("ConfigMap")
    for name, labels, ann in [("mine", {LABEL_PART_OF: APP.id}, {}), ("api-owned", {LABEL_PART_OF: other.id}, {}),
                              ("argo", {}, {"argocd.argoproj.io/tracking-id": "gb:/ConfigMap:team-a/argo"})]:
        server.put({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": "team-a", "labels": labels, "annotations": ann}})
    update_record(cluster, other, lambda r: r.with_entry(HistoryEntry(0, "sync", "succeeded")))
    keys = [ResourceKey("", "ConfigMap", "team-a", n) for n in ("mine", "api-owned", "argo", "new")]
    live = fetch_live(cluster, [Target(k, cm) for k in keys])
    conflicts = ownership_conflicts(keys, live, APP.id)
    assert [c.key.name for c in conflicts] == ["api-owned", "argo"]
    names = resolve_applyset_names(cluster, [c.owner.name for c in conflicts if c.owner and c.owner.tool == "ApplySet"])
    err = conflicts_error(conflicts, APP, names)
    assert err.exit_code == ExitCode.REFUSED and "kubectl-gitops app api (Secret team-b/kubectl-gitops.api)" in \
        err.details[0] and "Argo CD app gb" in err.details[1]


def test_applyset_names_are_best_effort_when_a_list_is_forbidden() -> None:
    cluster, server = fake_cluster()
    other = AppRef("api", "team-b")
    update_record(cluster, other, lambda r: r.with_entry(HistoryEntry(0, "sync", "succeeded")))
    server.fail("LIST", "ConfigMap", status=403, reason="Forbidden", times=None)
    names = resolve_applyset_names(cluster, [other.id, "applyset-unknown-v1"])
    assert names == {other.id: "kubectl-gitops app api (Secret team-b/kubectl-gitops.api)"}
