"""The app's status on its record (engine.app_status): transitions, the stored annotation, the derived phases, and
that a record write keeps the suspended flag and carries the run's status (record_merge)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from kubectl_gitops.engine.app_status import (
    ANN_STATUS,
    ANN_SUSPENDED,
    DRIFT_KEYS_LIMIT,
    AppStatus,
    Drift,
    Phase,
    parse_status,
    shown_phase,
)
from kubectl_gitops.engine.inventory import AppRef, Record, Scope, parent_object, parse_parent
from kubectl_gitops.engine.record_merge import RecordUpdate, merge_record
from kubectl_gitops.model import ResourceKey
from kubectl_gitops.settings import parse_duration

APP = AppRef("web", "team")


def test_a_successful_sync_makes_the_app_synced_at_its_commit() -> None:
    s = AppStatus().synced("c1", "t1", health="Healthy", by="sync")
    assert (s.phase, s.health, s.last_synced_commit, s.last_seen_commit, s.last_sync_time) == \
        (Phase.SYNCED, "Healthy", "c1", "c1", "t1")
    assert s.self_heals == 0


def test_a_new_commit_seen_makes_it_out_of_sync_until_synced() -> None:
    s = AppStatus().synced("c1", "t1", health="Healthy", by="watch").seen("c2", "t2")
    assert (s.phase, s.last_seen_commit, s.last_synced_commit, s.last_seen_time) == (Phase.OUT_OF_SYNC, "c2", "c1",
                                                                                     "t2")
    assert s.seen("c2", "t3") is s  # the same commit again changes nothing (no write)


def test_a_failure_keeps_the_last_synced_commit_and_says_why() -> None:
    s = AppStatus().synced("c1", "t1", health="Healthy", by="watch").failed("c2", "t2", "3 problems\n found",
                                                                             health="Healthy", by="watch")
    assert (s.phase, s.last_synced_commit, s.last_seen_commit, s.message) == (Phase.FAILED, "c1", "c2",
                                                                               "3 problems found")
    assert s.last_sync_time == "t1" and s.last_attempt_time == "t2"


def test_drift_is_reported_and_cleared() -> None:
    synced = AppStatus().synced("c1", "t1", health="Healthy", by="watch")
    drifted = synced.drifted(Drift.of([ResourceKey("apps", "Deployment", "team", "web")]), by="watch")
    assert drifted.phase == Phase.OUT_OF_SYNC and drifted.drift.keys == ("Deployment.apps team/web",)
    assert "1 object(s) differ" in drifted.message
    back = drifted.drifted(Drift(), by="watch")
    assert back.phase == Phase.SYNCED and back.drift.objects == 0


def test_a_self_heal_counts_and_clears_the_drift() -> None:
    drifted = AppStatus().synced("c1", "t1", health="Healthy", by="watch").drifted(Drift(2, ("a", "b")), by="watch")
    healed = drifted.synced("c1", "t2", health="Healthy", by="self-heal", healed=True)
    assert (healed.phase, healed.drift.objects, healed.self_heals) == (Phase.SYNCED, 0, 1)


def test_drift_keys_are_cut_but_counted() -> None:
    keys = [f"k{i:03}" for i in range(DRIFT_KEYS_LIMIT + 5)]
    d = Drift.of(keys)
    assert d.objects == DRIFT_KEYS_LIMIT + 5 and len(d.keys) == DRIFT_KEYS_LIMIT


def test_the_annotation_round_trips_and_a_damaged_one_is_ignored() -> None:
    s = AppStatus().synced("c1", "t1", health="Healthy", by="sync").drifted(Drift(1, ("x",)), by="watch")
    assert parse_status({ANN_STATUS: s.annotation()}) == s
    assert parse_status({}) is None
    assert parse_status({ANN_STATUS: "{not json"}) is None
    assert parse_status({ANN_STATUS: "[1]"}) is None
    odd = parse_status({ANN_STATUS: json.dumps({"phase": "Synced", "drift": "x", "selfHeals": "many"})})
    assert odd is not None and odd.phase == "Synced" and odd.drift == Drift() and odd.self_heals == 0


@pytest.mark.parametrize(("suspended", "progressing", "stored", "shown"), [
    (True, True, Phase.SYNCED, Phase.SUSPENDED),
    (False, True, Phase.FAILED, Phase.PROGRESSING),
    (False, False, Phase.OUT_OF_SYNC, Phase.OUT_OF_SYNC),
    (False, False, None, Phase.UNKNOWN),
])
def test_suspended_and_progressing_are_derived_when_read(suspended: bool, progressing: bool, stored: str | None,
                                                         shown: str) -> None:
    status = AppStatus(phase=stored) if stored else None
    assert shown_phase(status, suspended=suspended, progressing=progressing) == shown


def test_the_record_carries_status_and_suspended_flag_through_the_parent_object() -> None:
    status = AppStatus().synced("c1", "t1", health="Healthy", by="sync")
    rec = Record(APP, scope=Scope(frozenset({"ConfigMap"}), frozenset({"team"})), exists=True, status=status,
                 suspended="ana 2024-05-01T00:00:00Z")
    obj = parent_object(rec)
    ann = obj["metadata"]["annotations"]
    assert ann[ANN_SUSPENDED] == "ana 2024-05-01T00:00:00Z" and json.loads(ann[ANN_STATUS])["phase"] == "Synced"
    obj["metadata"]["uid"] = "u-1"
    back = parse_parent(obj, APP)
    assert (back.status, back.suspended, back.uid) == (status, rec.suspended, "u-1")


def test_a_run_writing_the_record_keeps_a_suspend_made_meanwhile_and_sets_its_status() -> None:
    base = Record(APP, exists=True, resource_version="1")
    fresh = replace(base, resource_version="2", suspended="bob now")  # `suspend` wrote since the run read it
    mine = AppStatus().synced("c1", "t1", health="Healthy", by="sync")
    merged = merge_record(fresh, RecordUpdate(base, Scope(), status=mine))
    assert merged.suspended == "bob now" and merged.status == mine
    assert merge_record(fresh, RecordUpdate(base, Scope())).status is None  # no status of its own: fresh's stays


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("1m30s", 90), ("1h0m0s", 3600), ("250ms", 0.25),
                                               ("2m", 120), ("5", 5), ("1.5s", 1.5)])
def test_durations_read_go_spellings_too(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["1x", "m1", "1m30", "", "-1s"])
def test_bad_durations_are_refused(text: str) -> None:
    from kubectl_gitops.errors import UsageError

    with pytest.raises(UsageError):
        parse_duration(text)
