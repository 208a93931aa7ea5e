"""The wave loop (kubectl_gitops.engine.sync) against the fake API server of tests/fakes.py: the order of writes,
what a failure mid-wave leaves behind and records, SyncFail hooks, health reads that fail and recover, hook
delete policies, Replace, field-manager conflicts, a Lease lost and a signal between waves. The same paths on
the real control plane: tests/e2e/test_sync*.py and test_failures.py (slow, and most faults unreachable)."""

from __future__ import annotations

import random
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from fakes import FakeApiServer, fake_cluster

from kubectl_gitops.cluster.client import ApiError, Cluster
from kubectl_gitops.engine import interrupt
from kubectl_gitops.engine.lease import Lease, LeaseLostError, LeaseOptions
from kubectl_gitops.engine.plan import build_plan
from kubectl_gitops.engine.sync import Syncer
from kubectl_gitops.engine.sync_model import SyncConfig, SyncOutcome
from kubectl_gitops.errors import TransportError
from kubectl_gitops.events import Event
from kubectl_gitops.model import Manifest, Origin

NS = "a"
FAST = SyncConfig(concurrency=4, poll_interval=0.001, wave_timeout=5.0)


@pytest.fixture(autouse=True)
def _clean_flag() -> Iterator[None]:
    interrupt.reset()
    yield
    interrupt.reset()


def manifest(api: str, kind: str, name: str, *, wave: int = 0, annotations: dict[str, str] | None = None,
             generate: bool = False, **extra: Any) -> Manifest:
    ann = {"argocd.argoproj.io/sync-wave": str(wave), **(annotations or {})}
    meta: dict[str, Any] = {"namespace": NS, "annotations": ann, "labels": {"applyset.kubernetes.io/part-of": "app1"}}
    meta["generateName" if generate else "name"] = name
    return Manifest({"apiVersion": api, "kind": kind, "metadata": meta, **extra}, Origin(f"{name}.yaml", 1))


def cm(name: str, wave: int = 0, **kw: Any) -> Manifest:
    return manifest("v1", "ConfigMap", name, wave=wave, data={"k": name}, **kw)


def widget(name: str, wave: int = 0) -> Manifest:
    return manifest("example.com/v1", "Widget", name, wave=wave, spec={"size": 1})


def hook(name: str, phase: str, policy: str = "", *, generate: bool = False) -> Manifest:
    ann = {"argocd.argoproj.io/hook": phase}
    if policy:
        ann["argocd.argoproj.io/hook-delete-policy"] = policy
    return manifest("batch/v1", "Job", name, annotations=ann, generate=generate, spec={"template": {}})


def syncer(cluster: Cluster, manifests: list[Manifest], *, config: SyncConfig = FAST,
           events: list[Event] | None = None, existing: set[Any] | None = None,
           unchanged: set[str] = frozenset()) -> Syncer:  # type: ignore[assignment]
    plan = build_plan(manifests)
    return Syncer(cluster, plan, types={m.key: None for m in manifests}, objects={m.key: m.obj for m in manifests},
                  existing=existing or set(), needs_apply=lambda s: s.name not in unchanged, config=config,
                  on_event=events.append if events is not None else lambda e: None, run_id="run1")


def patched(server: FakeApiServer) -> list[str]:
    return [name for m, _, _, name in server.log if m == "PATCH"]


def run(manifests: list[Manifest], server: FakeApiServer | None = None, **kw: Any) -> tuple[SyncOutcome, FakeApiServer]:
    cluster, server = fake_cluster(server)
    server.complete_jobs = True
    return syncer(cluster, manifests, **kw).run(), server


# --- the happy path ------------------------------------------------------------------------------------------

def test_waves_are_written_in_order_and_every_write_is_counted() -> None:
    out, server = run([cm("late", 2), cm("early", -1), cm("mid", 0)])
    assert out.ok, out.message
    assert patched(server) == ["early", "mid", "late"]
    assert out.writes == 3 and out.applied == 3 and [w.wave for w in out.waves] == [-1, 0, 2]
    assert server.names("ConfigMap", NS) == ["early", "late", "mid"]


def test_created_or_configured_follows_what_existed_and_unchanged_objects_are_not_written() -> None:
    cluster, server = fake_cluster()
    server.put(cm("old").obj)
    server.put(cm("same").obj)
    ms = [cm("old"), cm("new"), cm("same")]
    out = syncer(cluster, ms, existing={ms[0].key, ms[2].key}, unchanged={"same"}).run()
    actions = {r.key.name: r.action for r in out.steps}
    assert actions == {"old": "configured", "new": "created", "same": "unchanged"}
    assert sorted(patched(server)) == ["new", "old"] and out.writes == 2


# --- failures while applying ---------------------------------------------------------------------------------

def test_an_apply_refused_mid_batch_fails_the_wave_keeps_the_rest_of_the_batch_and_runs_syncfail() -> None:
    _, server = fake_cluster()
    server.fail("PATCH", "ConfigMap", "b", status=422, reason="Invalid", message='ConfigMap "b" is invalid')
    out, server = run([cm("a"), cm("b"), cm("c"), cm("next", 1), hook("on-fail", "SyncFail")], server)
    assert not out.ok and out.error is None
    assert [r.key.name for r in out.failed] == ["b"] and "is invalid" in out.failed[0].message
    assert out.reached == "Sync wave 0" and "1 object(s) could not be applied" in out.message
    assert server.names("ConfigMap", NS) == ["a", "c"]  # the batch's others were applied; wave 1 never ran
    assert server.names("Job", NS) == ["on-fail"]  # the SyncFail hook ran
    assert {r.key.name: r.action for r in out.steps}["on-fail"] == "hook"


def test_a_cluster_error_mid_batch_is_the_outcomes_error_after_the_retries_the_client_allows() -> None:
    _, server = fake_cluster()
    server.fail("PATCH", "ConfigMap", "b", reset="before", times=None)  # refused, every time
    out, server = run([cm("a"), cm("b"), hook("on-fail", "SyncFail")], server)
    assert not out.ok and isinstance(out.error, TransportError) and "after 3 attempts" in out.message
    assert patched(server).count("b") == 3  # a server-side apply is idempotent: sent again
    assert out.applied == 2 and server.names("ConfigMap", NS) == ["a"]  # applied: a, and the SyncFail hook
    assert server.names("Job", NS) == ["on-fail"]


def test_a_server_side_apply_whose_answer_was_lost_is_sent_again_and_succeeds() -> None:
    cluster, server = fake_cluster()
    server.fail("PATCH", "ConfigMap", "a", reset="after")  # applied, then the connection reset
    out = syncer(cluster, [cm("a")]).run()
    assert out.ok and patched(server) == ["a", "a"] and cluster.retries == 1
    assert server.written() == ["PATCH", "PATCH"] and out.writes == 1  # the client counts answers, not tries


def test_fields_owned_by_another_manager_fail_until_forced() -> None:
    cluster, server = fake_cluster()
    server.put(cm("shared").obj)
    server.claim("ConfigMap", "shared", NS, manager="kubectl-edit")
    out = syncer(cluster, [cm("shared")]).run()
    assert not out.ok and "--force-conflicts" in out.failed[0].message and "kubectl-edit" in out.failed[0].message
    forced = syncer(cluster, [cm("shared")], config=SyncConfig(poll_interval=0.001, force_conflicts=True)).run()
    assert forced.ok and server.claims == {}  # forcing took the fields


def test_a_kind_the_cluster_does_not_serve_fails_its_wave_naming_it() -> None:
    cluster, server = fake_cluster()
    server.unserve("example.com", "Widget")
    out = syncer(cluster, [cm("first"), widget("w", 1)]).run()
    assert not out.ok and "does not serve example.com/v1 Widget" in out.message
    assert server.names("ConfigMap", NS) == ["first"]


# --- health --------------------------------------------------------------------------------------------------

def test_a_degraded_object_fails_its_wave_and_the_next_wave_is_not_applied() -> None:
    cluster, server = fake_cluster()
    server.put(widget("w").obj)
    server.mark_failed("Widget", "w", NS, message="quota exceeded")
    out = syncer(cluster, [widget("w"), cm("later", 1)]).run()
    assert not out.ok and "1 object(s) degraded" in out.message
    assert out.failed[0].health == "Degraded" and "quota exceeded" in out.failed[0].message
    assert "later" not in server.names("ConfigMap")


def test_an_object_that_never_becomes_ready_times_out_its_wave() -> None:
    cluster, server = fake_cluster()
    server.put(widget("w").obj)
    server.mark_progressing("Widget", "w", NS)
    out = syncer(cluster, [widget("w")], config=SyncConfig(poll_interval=0.001, wave_timeout=0.02)).run()
    assert not out.ok and "timed out" in out.message and out.failed[0].health == "Progressing"


def test_health_reads_that_fail_then_recover_before_the_deadline_only_warn() -> None:
    cluster, server = fake_cluster()
    events: list[Event] = []
    server.fail("GET", "Widget", "w", status=503, times=3)  # one whole poll (3 attempts) fails
    out = syncer(cluster, [widget("w")], events=events).run()
    assert out.ok, out.message
    kinds = [e.type for e in events]
    assert kinds.count("warning") == 1 and kinds.index("warning") < kinds.index("health.resumed")
    assert out.steps[0].health == "Healthy"


def test_health_reads_failing_until_the_deadline_stop_the_sync_with_the_read_error() -> None:
    cluster, server = fake_cluster()
    server.fail("GET", "Widget", "w", status=503, times=None)
    out = syncer(cluster, [widget("w")], config=SyncConfig(poll_interval=0.001, wave_timeout=0.0)).run()
    assert not out.ok and isinstance(out.error, ApiError) and out.error.status == 503
    assert "health checks failed until the wave's deadline" in out.message
    assert server.names("Widget", NS) == ["w"]  # applied before the wait


def test_a_widget_marked_ready_mid_wait_lets_the_next_wave_run() -> None:
    cluster, server = fake_cluster()
    server.put(widget("w").obj)
    server.mark_progressing("Widget", "w", NS)
    server.fail("GET", "Widget", "w", times=1, before=lambda: server.mark_ready("Widget", "w", NS))
    out = syncer(cluster, [widget("w"), cm("after", 1)]).run()
    assert out.ok and "after" in server.names("ConfigMap", NS)


# --- hooks ---------------------------------------------------------------------------------------------------

def test_a_hook_with_hook_succeeded_is_deleted_after_its_wave() -> None:
    out, server = run([cm("app"), hook("smoke", "PostSync", "HookSucceeded")])
    assert out.ok and server.names("Job") == []
    assert ("DELETE", "Job", NS, "smoke") in server.effects


def test_a_failed_hook_is_deleted_by_hook_failed_and_syncfail_runs() -> None:
    cluster, server = fake_cluster()
    server.complete_jobs = True  # the SyncFail hook completes; migrate fails at its first health read

    def fails() -> None:
        if server.obj("Job", "migrate", NS) is not None:
            server.mark_failed("Job", "migrate", NS)

    server.fail("GET", "Job", "migrate", times=None, before=fails)
    out = syncer(cluster, [hook("migrate", "PreSync", "HookFailed"), cm("app"), hook("page", "SyncFail")]).run()
    assert not out.ok and out.failed[0].key.name == "migrate" and out.failed[0].health == "Degraded"
    assert "migrate" not in server.names("Job") and "page" in server.names("Job")
    assert server.names("ConfigMap") == []  # PreSync failed: the Sync phase never started


def test_a_failing_syncfail_hook_is_noted_without_hiding_the_first_failure() -> None:
    cluster, server = fake_cluster()
    server.fail("PATCH", "ConfigMap", "a", status=422, reason="Invalid", message="bad")
    server.fail("POST", "Job", status=403, reason="Forbidden", message="jobs is forbidden")
    out = syncer(cluster, [cm("a"), hook("page", "SyncFail", generate=True)]).run()
    assert not out.ok and out.message.startswith("Sync wave 0: 1 object(s) could not be applied")
    assert "SyncFail hooks failed too" in out.message and server.names("Job") == []


def test_a_named_hook_left_by_an_earlier_run_is_replaced_before_hook_creation() -> None:
    cluster, server = fake_cluster()
    server.complete_jobs = True
    old = server.put(hook("smoke", "PostSync").obj)
    out = syncer(cluster, [hook("smoke", "PostSync", "BeforeHookCreation")]).run()
    assert out.ok
    new = server.obj("Job", "smoke", NS)
    assert new is not None and new["metadata"]["uid"] != old["metadata"]["uid"]
    assert [m for m, k, _, _ in server.effects if k == "Job"] == ["DELETE", "PATCH"]


# --- Replace=true ----------------------------------------------------------------------------------------------

def test_replace_sends_a_put_with_the_live_version_and_rides_out_a_stale_409() -> None:
    cluster, server = fake_cluster()
    server.put(cm("r").obj)
    server.fail("PUT", "ConfigMap", "r", status=409, reason="Conflict",
                message='Operation cannot be fulfilled on configmaps "r": the object has been modified')
    m = cm("r", annotations={"argocd.argoproj.io/sync-options": "Replace=true"})
    out = syncer(cluster, [m], existing={m.key}).run()
    assert out.ok and out.steps[0].action == "configured"
    assert [x[0] for x in server.log if x[3] == "r" and x[0] != "GET"] == ["PUT", "PUT"]
    assert server.written("ConfigMap") == ["PUT"]


# --- stopped from outside ------------------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


def test_a_lease_lost_mid_sync_refuses_every_later_write() -> None:
    cluster, server = fake_cluster(namespace=NS)
    clock = Clock()
    lease = Lease(cluster, "app1", NS, command="sync", options=LeaseOptions(duration=30, holder="me@host"),
                  clock=clock, monotonic=clock, sleep=lambda s: None, rng=random.Random(1))
    lease.acquire()
    cluster.write_guard = lease.check

    def taken_over() -> None:  # someone takes the Lease while wave 0 is waited for
        server.edit("Lease", "kubectl-gitops.app1", NS, lambda o: o["spec"].update(holderIdentity="eve@x/1/ff"))
        lease.renew()

    server.fail("GET", "ConfigMap", "first", before=taken_over)
    out = syncer(cluster, [cm("first"), cm("second", 1), hook("page", "SyncFail")]).run()
    assert not out.ok and isinstance(out.error, LeaseLostError) and "eve@x" in out.message
    assert server.names("ConfigMap", NS) == ["first"] and server.names("Job") == []
    assert "SyncFail hooks could not run" in out.message
    assert [k for _, k, _, _ in server.effects] == ["Lease", "ConfigMap"]


def test_a_signal_between_waves_stops_before_the_next_write_and_runs_no_syncfail() -> None:
    cluster, server = fake_cluster()

    def on_event(e: Event) -> None:
        if e.type == "wave.done":
            interrupt.request(signal.SIGTERM)

    plan = [cm("first"), cm("second", 1), hook("page", "SyncFail")]
    s = syncer(cluster, plan)
    s.on_event = on_event
    out = s.run()
    assert isinstance(out.error, interrupt.Interrupted) and out.error.exit_code == 143
    assert "before Sync wave 1" in out.message and out.reached == "Sync wave 1"
    assert server.names("ConfigMap", NS) == ["first"] and server.names("Job") == [] and out.writes == 1
