"""A sync stopped by the API server (kubectl_gitops.engine.sync + ops/failure.py), against the fake API server of
tests/fakes.py: what was applied before the failure is kept and counted, the error reaches the caller after the
record is written (or the message says it could not be), and failed health reads are tolerated until the wave's
deadline. The same on the real control plane: tests/e2e/test_failures.py."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import CONFIGMAP as CM
from fakes import FakeApiServer, fake_cluster

from kubectl_gitops.cluster.client import ApiError, Cluster
from kubectl_gitops.engine.plan import Phase, build_plan
from kubectl_gitops.engine.sync import Syncer
from kubectl_gitops.engine.sync_model import SyncConfig, SyncOutcome
from kubectl_gitops.errors import ExitCode, TransportError
from kubectl_gitops.events import Event
from kubectl_gitops.model import Manifest, Origin
from kubectl_gitops.ops.failure import record_outcome, written


def configmap(name: str, wave: int) -> Manifest:
    return Manifest({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": name, "namespace": "a", "annotations": {"argocd.argoproj.io/sync-wave": str(wave)}}},
        Origin("x.yaml", 1))


def broken(names: set[str]) -> tuple[Cluster, FakeApiServer]:
    """The shared fake API server (tests/fakes.py): applies succeed except for ``names`` (no answer, every
    time: a TransportError once the client's retries are spent)."""
    cluster, server = fake_cluster()
    for name in names:
        server.fail("PATCH", "ConfigMap", name, reset="before", times=None)
    return cluster, server


def syncer(cluster: Cluster, manifests: list[Manifest], events: list[Event] | None = None) -> Syncer:
    plan = build_plan(manifests)
    return Syncer(cluster, plan, types={m.key: CM for m in manifests},
                  objects={m.key: m.obj for m in manifests}, existing=set(), needs_apply=lambda s: True,
                  config=SyncConfig(wait=False, concurrency=4),
                  on_event=(events.append if events is not None else lambda e: None))


def test_a_cluster_error_in_wave_two_stops_the_sync_and_keeps_what_wave_one_applied() -> None:
    fake, server = broken({"late-1"})
    manifests = [configmap("early-1", 0), configmap("early-2", 0), configmap("late-0", 1), configmap("late-1", 1)]
    out = syncer(fake, manifests).run()
    assert not out.ok and isinstance(out.error, TransportError)
    assert out.reached == "Sync wave 1"
    assert out.applied == 3  # both of wave 0, and late-0 from the batch that failed
    assert out.writes == 3 and server.names("ConfigMap") == ["early-1", "early-2", "late-0"]
    assert "2 object(s)" not in written(out) and written(out).startswith("3 object(s) were applied")


def test_nothing_written_is_said_so() -> None:
    out = syncer(broken({"only"})[0], [configmap("only", 0)]).run()
    assert out.applied == 0 and written(out) == "nothing was written"


class FakeInventory:
    def __init__(self, fail: Exception | None = None):
        self.fail = fail
        self.calls: list[dict[str, Any]] = []
        self.app = type("App", (), {"name": "shop"})()

    def after_apply(self, ok: bool, counts: dict[str, int], **kw: Any) -> None:
        self.calls.append({"ok": ok, "counts": counts, **kw})
        if self.fail:
            raise self.fail


def stopped_outcome() -> SyncOutcome:
    return syncer(broken({"late-0"})[0], [configmap("early", 0), configmap("late-0", 1)]).run()


def test_a_stopped_sync_is_recorded_as_failed_then_its_error_raised_with_what_was_written() -> None:
    inv = FakeInventory()
    with pytest.raises(TransportError) as caught:
        record_outcome(inv, stopped_outcome(), seconds=1.0, ref=None)  # type: ignore[arg-type]
    assert inv.calls[0]["ok"] is False and inv.calls[0]["result"] == "failed"
    assert inv.calls[0]["counts"] == {"created": 1}
    assert "1 object(s) were applied before the failure, in Sync wave 1" in inv.calls[0]["message"]
    msg = caught.value.message
    assert "1 object(s) were applied before the failure" in msg and "recorded as failed in the history" in msg
    assert caught.value.exit_code == ExitCode.CLUSTER_ERROR and caught.value.hint


def test_when_the_record_write_fails_too_the_message_says_so() -> None:
    inv = FakeInventory(fail=TransportError("PATCH .../secrets/kubectl-gitops.shop: connection refused"))
    with pytest.raises(TransportError) as caught:
        record_outcome(inv, stopped_outcome(), seconds=1.0, ref=None)  # type: ignore[arg-type]
    assert "could not be recorded in the history (PATCH .../secrets" in caught.value.message


# --- health polling --------------------------------------------------------------------------------

def test_failed_health_reads_are_tolerated_until_the_deadline_with_one_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[Event] = []
    s = syncer(broken(set())[0], [configmap("a", 0)], events)
    step = s.plan.steps[0]
    answers: list[Any] = [TransportError("GET ... timed out", reason="timeout"),
                          ApiError("the server is currently unable to handle the request", status=503, reason=None),
                          "ok"]

    def healths(steps: list[Any]) -> list[Any]:
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return [(step, "healthy")]

    monkeypatch.setattr(s, "_healths", healths)
    s._read_failed = None
    far = 1e18
    assert s._poll_healths([step], Phase.SYNC, 0, far) is None
    assert s._poll_healths([step], Phase.SYNC, 0, far) is None
    assert s._poll_healths([step], Phase.SYNC, 0, far) == [(step, "healthy")]
    assert [e.type for e in events] == ["warning", "health.resumed"]


def test_at_the_deadline_or_on_a_lasting_error_the_read_failure_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    s = syncer(broken(set())[0], [configmap("a", 0)])
    step = s.plan.steps[0]
    s._read_failed = None

    def timed_out(steps: list[Any]) -> list[Any]:
        raise TransportError("GET ... timed out", reason="timeout")

    monkeypatch.setattr(s, "_healths", timed_out)
    with pytest.raises(TransportError, match="health checks failed until the wave's deadline"):
        s._poll_healths([step], Phase.SYNC, 0, 0.0)

    def forbidden(steps: list[Any]) -> list[Any]:
        raise ApiError("forbidden", status=403, reason="Forbidden")

    monkeypatch.setattr(s, "_healths", forbidden)
    with pytest.raises(ApiError, match="forbidden"):
        s._poll_healths([step], Phase.SYNC, 0, 1e18)
