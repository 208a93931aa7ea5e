"""The record's read-modify-write (engine.record_merge): what a run writes is merged with the fresh record,
so a run never narrows what another run widened meanwhile, and a re-done write never appends its history entry
twice. Pure functions over two Records, plus update_record's retry loop with the reads and writes faked."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kubectl_gitops.cluster.client import ApiError
from kubectl_gitops.engine import inventory
from kubectl_gitops.engine.inventory import AppRef, HistoryEntry, Record, Scope, update_record
from kubectl_gitops.engine.record_merge import RecordUpdate, merge_record, new_run_id
from kubectl_gitops.model import ResourceKey

APP = AppRef("shop", "rec")


def cm(ns: str, name: str) -> ResourceKey:
    return ResourceKey("", "ConfigMap", ns, name)


def scope(*namespaces: str, kinds: tuple[str, ...] = ("ConfigMap",)) -> Scope:
    return Scope(frozenset(kinds), frozenset(namespaces))


def record(rv: str, sc: Scope, sources: dict[ResourceKey, str] | None = None,
           runs: tuple[str, ...] = ()) -> Record:
    history = tuple(HistoryEntry(revision=i + 1, operation="sync", result="succeeded", time="t", run=r)
                    for i, r in enumerate(runs))
    return Record(APP, scope=sc, history=history, exists=True, resource_version=rv, sources=sources or {})


def entry(run: str) -> HistoryEntry:
    return HistoryEntry(revision=0, operation="sync", result="succeeded", time="t", run=run)


def test_sync_prune_racing_a_sync_that_added_a_namespace_keeps_it() -> None:
    """issue 12: `sync --prune X` ‖ `sync Y`, Y adds ConfigMaps in namespace n. X listed {a}; Y's write (fresh)
    holds {a, n}. X's exact scope is {a} — merged, n stays, so Y's objects stay within diff and prune."""
    base = record("1", scope("a"), {cm("a", "x"): "plain:x.yaml", cm("a", "old"): "plain:x.yaml"})
    fresh = record("2", scope("a", "n"), {**base.sources, **{cm("n", f"y{i}"): "plain:y.yaml" for i in range(5)}},
                   runs=("y",))
    update = RecordUpdate(base, scope("a"), exact=True, sources={cm("a", "x"): "plain:x.yaml"},
                          pruned=frozenset({cm("a", "old")}), entry=entry("x"))
    merged = merge_record(fresh, update)
    assert merged.scope == scope("a", "n")
    assert set(merged.sources) == {cm("a", "x"), *(cm("n", f"y{i}") for i in range(5))}  # the pruned one is gone
    assert [h.run for h in merged.history] == ["y", "x"]
    assert merged.resource_version == "2"  # written over the fresh one (optimistic lock)


def test_without_another_writer_a_prune_narrows_exactly() -> None:
    base = record("1", scope("a", "b", kinds=("ConfigMap", "Service")), {cm("b", "gone"): "plain:b.yaml"})
    update = RecordUpdate(base, scope("a"), exact=True, sources={}, pruned=frozenset({cm("b", "gone")}),
                          entry=entry("x"))
    assert merge_record(base, update).scope == scope("a")


def test_with_another_writer_only_what_this_run_deleted_narrows() -> None:
    """The fresh record changed (another run's history entry): the scope is fresh ∪ ours, minus the namespaces
    and kinds that only this run's deleted objects were in."""
    base = record("1", scope("a", "b", "c"), {cm("b", "gone"): "plain:b.yaml", cm("c", "kept"): "plain:c.yaml"})
    fresh = replace(record("2", scope("a", "b", "c"), base.sources, runs=("other",)))
    update = RecordUpdate(base, scope("a"), exact=True, sources={}, pruned=frozenset({cm("b", "gone")}))
    merged = merge_record(fresh, update)
    assert merged.scope == scope("a", "c")  # b: only the pruned object was there; c: a member of fresh is


def test_a_namespace_this_run_emptied_but_another_run_wrote_into_is_kept() -> None:
    base = record("1", scope("a", "b"), {cm("b", "gone"): "plain:b.yaml"})
    fresh = record("2", scope("a", "b"), {cm("b", "gone"): "plain:b.yaml", cm("b", "new"): "plain:new.yaml"},
                   runs=("other",))
    update = RecordUpdate(base, scope("a"), exact=True, sources={}, pruned=frozenset({cm("b", "gone")}))
    merged = merge_record(fresh, update)
    assert merged.scope == scope("a", "b")
    assert merged.sources == {cm("b", "new"): "plain:new.yaml"}


def test_a_kind_the_other_writer_added_is_kept_even_without_recorded_members() -> None:
    base = record("1", scope("a"))
    fresh = record("2", scope("a", kinds=("ConfigMap", "Secret")))
    update = RecordUpdate(base, scope("a"), exact=True)
    assert merge_record(fresh, update).scope == scope("a", kinds=("ConfigMap", "Secret"))


def test_a_sync_without_prune_only_widens() -> None:
    base = record("1", scope("a"))
    fresh = record("2", scope("a", "n"), {cm("n", "y"): "plain:y.yaml"})
    update = RecordUpdate(base, scope("a", "m"), sources={cm("m", "z"): "plain:z.yaml"}, entry=entry("x"))
    merged = merge_record(fresh, update)
    assert merged.scope == scope("a", "m", "n")
    assert merged.sources == {cm("m", "z"): "plain:z.yaml", cm("n", "y"): "plain:y.yaml"}


def test_members_three_way_this_runs_view_plus_what_the_other_writer_added_or_moved() -> None:
    base = record("1", scope("a"), {cm("a", "1"): "plain:one.yaml", cm("a", "2"): "plain:two.yaml",
                                    cm("a", "3"): "plain:three.yaml"})
    # ours dropped 3 (no longer exists), the other writer moved 2 to another file and added 4
    fresh = record("2", scope("a"), {cm("a", "1"): "plain:one.yaml", cm("a", "2"): "plain:moved.yaml",
                                     cm("a", "3"): "plain:three.yaml", cm("a", "4"): "plain:four.yaml"})
    update = RecordUpdate(base, scope("a"), sources={cm("a", "1"): "plain:one.yaml", cm("a", "2"): "plain:two.yaml"})
    assert merge_record(fresh, update).sources == {cm("a", "1"): "plain:one.yaml", cm("a", "2"): "plain:two.yaml",
                                                   cm("a", "4"): "plain:four.yaml"}


def test_an_entry_whose_run_id_is_already_there_is_not_appended_again() -> None:
    fresh = record("2", scope("a"), runs=("r0", "r1"))
    update = RecordUpdate(fresh, scope("a"), entry=entry("r1"))
    assert [h.run for h in merge_record(fresh, update).history] == ["r0", "r1"]
    update = RecordUpdate(fresh, scope("a"), entry=entry("r2"))
    merged = merge_record(fresh, update)
    assert [(h.run, h.revision) for h in merged.history] == [("r0", 1), ("r1", 2), ("r2", 3)]


def test_entries_without_run_ids_records_of_older_versions_are_always_appended() -> None:
    fresh = record("2", scope("a"), runs=("", ""))
    assert len(merge_record(fresh, RecordUpdate(fresh, scope("a"), entry=entry(""))).history) == 3


def test_run_ids_are_random_and_survive_the_json_round_trip() -> None:
    a, b = new_run_id(), new_run_id()
    assert a != b and len(a) == 16
    assert HistoryEntry.from_json(entry(a).to_json()).run == a
    assert "run" not in entry("").to_json()


# --- update_record's loop ------------------------------------------------------------------------------

class FakeStore:
    """The parent as the API server keeps it: writes with a stale resourceVersion get 409."""

    def __init__(self, rec: Record, *, lose_answers: int = 0):
        self.rec = rec
        self.writes = 0
        self.lose_answers = lose_answers  # the next N writes land but their answer is lost (then 409 on resend)

    def read(self, _cluster: object, _app: AppRef) -> Record:
        return self.rec

    def write(self, _cluster: object, rec: Record) -> Record:
        if rec.resource_version != self.rec.resource_version:
            raise ApiError("Operation cannot be fulfilled: the object has been modified", status=409,
                           reason="Conflict")
        self.writes += 1
        self.rec = replace(rec, resource_version=str(int(rec.resource_version or "0") + 1))
        if self.lose_answers:
            self.lose_answers -= 1
            # the re-sent apply meets our own new resourceVersion: what cluster.py's retry then raises
            raise ApiError("Operation cannot be fulfilled: the object has been modified", status=409,
                           reason="Conflict")
        return self.rec


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> FakeStore:
    s = FakeStore(record("1", scope("a"), runs=("r0",)))
    monkeypatch.setattr(inventory, "read_record", s.read)
    monkeypatch.setattr(inventory, "write_record", s.write)
    return s


def test_a_write_that_landed_but_lost_its_answer_is_not_appended_twice(store: FakeStore) -> None:
    store.lose_answers = 1
    base = store.rec
    update = RecordUpdate(base, scope("a"), entry=entry("r1"))
    out = update_record(None, APP, lambda r: merge_record(r, update), current=base)  # type: ignore[arg-type]
    assert [h.run for h in out.history] == ["r0", "r1"]
    assert store.writes == 1  # the re-read showed our entry: nothing left to write


def test_a_write_that_lost_the_race_is_merged_into_the_winner(store: FakeStore) -> None:
    base = store.rec
    store.rec = record("7", scope("a", "n"), {cm("n", "y"): "plain:y.yaml"}, runs=("r0", "other"))
    update = RecordUpdate(base, scope("a"), exact=True, entry=entry("mine"))
    out = update_record(None, APP, lambda r: merge_record(r, update), current=base)  # type: ignore[arg-type]
    assert out.scope == scope("a", "n")
    assert [h.run for h in out.history] == ["r0", "other", "mine"]
