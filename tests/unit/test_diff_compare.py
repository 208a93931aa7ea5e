"""The comparison engine (engine.diff.compare) driven by a fake DryRunner: which objects are dry-run, the
notes on those that are not, conflicts, refusals collected into one error, and the Comparison it returns."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from fakes import CountingConnection

from kubectl_gitops import FIELD_MANAGER
from kubectl_gitops.cluster.client import ApiError, ResourceType
from kubectl_gitops.engine.diff import IgnoreRule, Op
from kubectl_gitops.engine.diff.compare import CompareOptions, DryRunner, applied_object, compare
from kubectl_gitops.errors import ValidationError
from kubectl_gitops.events import Event
from kubectl_gitops.model import ANN_SOURCE_COMMIT, Manifest, Obj, Origin, ResourceKey

CM = ResourceType("", "v1", "ConfigMap", "configmaps", True)
NS = ResourceType("", "v1", "Namespace", "namespaces", False)


def cm(name: str, ns: str = "app", **data: str) -> Manifest:
    return Manifest({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns},
                     "data": dict(data)}, Origin(f"deploy/{name}.yaml", 1))


def owned_live(m: Manifest) -> Obj:
    """``m`` as the cluster holds it after our apply: managedFields say we own exactly its fields."""
    obj = applied_object(m, None)
    fields: Obj = {"f:data": {f"f:{k}": {} for k in obj.get("data") or {}}}
    return {**obj, "metadata": {**obj["metadata"], "uid": "u1", "managedFields": [
        {"manager": FIELD_MANAGER, "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": fields}]}}


class FakeRunner:
    """Answers dry-run applies with the object itself, or with the error queued for that name."""

    def __init__(self, errors: dict[str, list[ApiError]] | None = None):
        self.errors = errors or {}
        self.calls: list[tuple[str, bool, bool]] = []  # name, dry_run, force
        self.sent: list[Obj] = []

    def apply(self, obj: Obj, rt: ResourceType, *, dry_run: bool = False, force: bool = False) -> Obj:
        name = obj["metadata"]["name"]
        self.calls.append((name, dry_run, force))
        self.sent.append(obj)
        queued = self.errors.get(name)
        if queued:
            raise queued.pop(0)
        return {**obj, "metadata": {**obj["metadata"], "uid": "dry"}}


def conflict_error() -> ApiError:
    return ApiError('Apply failed with 1 conflict: conflict with "kubectl-edit": .data.a', status=409,
                    reason="Conflict", causes=[{"reason": "FieldManagerConflict", "field": ".data.a"}])


def types_for(*ms: Manifest, rt: ResourceType | None = CM) -> dict[ResourceKey, ResourceType | None]:
    return {m.key: rt for m in ms}


def test_the_fake_is_a_dry_runner() -> None:
    runner: DryRunner = FakeRunner()
    assert runner.apply({"metadata": {"name": "x"}}, CM, dry_run=True)["metadata"]["uid"] == "dry"


def test_new_object_is_dry_run_and_created() -> None:
    m, runner = cm("a", x="1"), FakeRunner()
    result = compare(runner, [m], types_for(m), {}, CompareOptions(), commit="abc")
    [ch] = result.changes
    assert ch.op is Op.CREATE
    assert runner.calls == [("a", True, False)]
    assert runner.sent[0]["metadata"]["annotations"][ANN_SOURCE_COMMIT] == "abc"
    assert result.dry_runs == 1 and result.merged[m.key] is not None and result.conflicts == {}


def test_unchanged_object_is_settled_by_the_fast_path_without_a_dry_run() -> None:
    m, runner = cm("a", x="1"), FakeRunner()
    result = compare(runner, [m], types_for(m), {m.key: owned_live(m)}, CompareOptions())
    assert [c.op for c in result.changes] == [Op.UNCHANGED]
    assert runner.calls == [] and result.dry_runs == 0 and result.merged == {m.key: None}


def test_without_the_fast_path_an_unchanged_object_is_dry_run() -> None:
    m, runner = cm("a", x="1"), FakeRunner()
    result = compare(runner, [m], types_for(m), {m.key: owned_live(m)}, CompareOptions(fast_path=False))
    assert [c.op for c in result.changes] == [Op.UNCHANGED]
    assert len(runner.calls) == 1 and result.dry_runs == 1


def test_changed_object_is_an_update() -> None:
    m, runner = cm("a", x="2"), FakeRunner()
    live = owned_live(cm("a", x="1"))
    result = compare(runner, [m], types_for(m), {m.key: live}, CompareOptions())
    [ch] = result.changes
    assert ch.op is Op.UPDATE and ch.changed and ch.note == ""


def test_object_being_deleted_is_noted_and_listed_as_terminating() -> None:
    m, runner = cm("a", x="2"), FakeRunner()
    live = owned_live(cm("a", x="1"))
    live["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    result = compare(runner, [m], types_for(m), {m.key: live}, CompareOptions())
    assert runner.calls == []
    assert result.changes[0].note.startswith("being deleted")
    assert result.terminating == [m.key]


def test_kind_whose_crd_is_in_the_set_is_not_dry_run() -> None:
    m = Manifest({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "app"}})
    runner = FakeRunner()
    result = compare(runner, [m], {m.key: None}, {}, CompareOptions())
    assert runner.calls == []
    assert result.changes[0].op is Op.CREATE
    assert "CustomResourceDefinition is created by this sync" in result.changes[0].note


def test_generate_name_hook_is_created_fresh() -> None:
    m = Manifest({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "h-", "namespace": "app"}})
    runner = FakeRunner()
    result = compare(runner, [m], {m.key: CM}, {}, CompareOptions())
    assert runner.calls == [] and result.changes[0].note == "hook with generateName: created fresh on every sync"


def test_object_in_a_namespace_this_sync_creates_is_not_dry_run() -> None:
    ns = Manifest({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "new"}})
    m, runner = cm("a", "new"), FakeRunner()
    result = compare(runner, [ns, m], {ns.key: NS, m.key: CM}, {}, CompareOptions())
    assert [c[0] for c in runner.calls] == ["new"]  # only the namespace itself
    assert result.changes[1].note == "not dry-run: namespace new is created by this sync"
    assert result.dry_runs == 1


def test_namespace_404_for_a_namespace_in_the_set_is_a_note_not_an_error() -> None:
    ns = Manifest({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "new"}})
    live_ns = {**ns.obj, "metadata": {"name": "new", "uid": "u"}}
    m = cm("a", "new")
    runner = FakeRunner({"a": [ApiError('namespaces "new" not found', status=404, reason="NotFound")]})
    result = compare(runner, [ns, m], {ns.key: NS, m.key: CM}, {ns.key: live_ns}, CompareOptions(fast_path=False))
    assert result.changes[1].op is Op.CREATE
    assert result.changes[1].note == "not dry-run: namespace new is created by this sync"


def test_refusals_are_collected_into_one_validation_error_with_hints() -> None:
    a, b = cm("a", "gone"), cm("b")
    runner = FakeRunner({"a": [ApiError('namespaces "gone" not found', status=404, reason="NotFound")],
                         "b": [ApiError("admission webhook denied the request", status=400, reason="BadRequest")]})
    with pytest.raises(ValidationError) as info:
        compare(runner, [a, b], types_for(a, b), {}, CompareOptions())
    details = info.value.details
    assert len(details) == 2
    assert details[0].endswith("; create namespace gone or add a Namespace object for it to the repository")
    assert "deploy/b.yaml" in details[1] and "admission webhook denied the request" in details[1]
    assert info.value.hint == "the API server rejected these objects in a dry run; nothing was changed"


def test_field_manager_conflict_is_reported_and_retried_with_force() -> None:
    m = cm("a", a="2")
    runner = FakeRunner({"a": [conflict_error()]})
    result = compare(runner, [m], types_for(m), {m.key: owned_live(cm("a", a="1"))}, CompareOptions())
    assert runner.calls == [("a", True, False), ("a", True, True)]
    assert "conflict with \"kubectl-edit\"" in result.conflicts[m.key]
    assert result.changes[0].note == result.conflicts[m.key]


def test_conflict_on_an_object_that_would_not_change_is_not_reported() -> None:
    m = cm("a", a="1")
    runner = FakeRunner({"a": [conflict_error()]})
    result = compare(runner, [m], types_for(m), {m.key: owned_live(m)}, CompareOptions(fast_path=False))
    assert result.conflicts == {} and result.changes[0].op is Op.UNCHANGED and result.changes[0].note == ""


def test_with_force_conflicts_there_is_no_retry_and_a_conflict_is_an_error() -> None:
    m = cm("a", a="2")
    runner = FakeRunner({"a": [conflict_error()]})
    with pytest.raises(ValidationError):
        compare(runner, [m], types_for(m), {m.key: owned_live(cm("a", a="1"))}, CompareOptions(force_conflicts=True))
    assert runner.calls == [("a", True, True)]


def test_conflict_then_refusal_of_the_forced_retry_is_an_error() -> None:
    m = cm("a", a="2")
    runner = FakeRunner({"a": [conflict_error(), ApiError("denied", status=400, reason="BadRequest")]})
    with pytest.raises(ValidationError):
        compare(runner, [m], types_for(m), {m.key: owned_live(cm("a", a="1"))}, CompareOptions())


def test_ignored_fields_keep_their_live_value_in_the_dry_run() -> None:
    m = cm("a", a="2", b="2")
    live = owned_live(cm("a", a="1", b="1"))
    rules = (IgnoreRule(kind="ConfigMap", json_pointers=("/data/a",)),)
    runner = FakeRunner()
    compare(runner, [m], types_for(m), {m.key: live}, CompareOptions(ignore_rules=rules))
    assert runner.sent[0]["data"] == {"a": "1", "b": "2"}
    runner = FakeRunner()
    compare(runner, [m], types_for(m), {m.key: live}, CompareOptions(ignore_rules=rules, respect_ignored=False))
    assert runner.sent[0]["data"] == {"a": "2", "b": "2"}


def test_labels_are_sent_and_changes_keep_manifest_order_with_one_compare_event() -> None:
    ms = [cm(n, x="1") for n in ("c", "a", "b")]
    events: list[Event] = []
    runner = FakeRunner()
    result = compare(runner, ms, types_for(*ms), {ms[1].key: owned_live(ms[1])}, CompareOptions(concurrency=2),
                     labels={"app": "demo"}, on_event=events.append)
    assert [c.key.name for c in result.changes] == ["c", "a", "b"]
    assert all(obj["metadata"]["labels"] == {"app": "demo"} for obj in runner.sent)
    assert [e.data for e in events if e.type == "compare"] == [{"objects": 3, "dry_runs": 3}]


def test_load_closes_the_connection_it_made_when_it_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    from kubectl_gitops.ops import common

    conn = CountingConnection()

    def broken(*args: object, **kwargs: object) -> None:
        raise ValidationError(["deploy/x.yaml: broken"])

    monkeypatch.setattr(common.Cluster, "connect", classmethod(lambda cls, *a, **k: conn))
    monkeypatch.setattr(common, "load_desired", broken)
    settings: Any = SimpleNamespace(cluster=None, source=None)
    with pytest.raises(ValidationError):
        common.load(settings, committed_only=False)
    assert conn.closed == 1
    given: Any = CountingConnection()
    with pytest.raises(ValidationError):
        common.load(settings, committed_only=False, cluster=given)
    assert given.closed == 0  # the caller's connection stays the caller's to close
