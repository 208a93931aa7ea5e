"""Signals (engine.interrupt) and hook copies across runs (engine.hooks), without a cluster; the
wave loop's use of both against the fake API server of tests/fakes.py (an ambiguous create, copies left by
other runs, a stop requested before the next write)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from fakes import JOB, FakeApiServer, fake_cluster

from kubectl_gitops.cluster.client import Cluster
from kubectl_gitops.engine import interrupt
from kubectl_gitops.engine.hooks import LABEL_HOOK, LABEL_HOOK_PHASE, LABEL_RUN, hook_id, leftovers, stale_reason
from kubectl_gitops.engine.plan import build_plan
from kubectl_gitops.engine.sync import Syncer
from kubectl_gitops.engine.sync_model import SyncConfig
from kubectl_gitops.errors import AmbiguousWriteError, ExitCode
from kubectl_gitops.model import Manifest, Origin, ResourceKey


@pytest.fixture(autouse=True)
def _clean_flag() -> Iterator[None]:
    interrupt.reset()
    yield
    interrupt.reset()


# --- interrupt ------------------------------------------------------------------------------------------------

def test_check_is_a_no_op_until_a_stop_is_requested() -> None:
    interrupt.check()
    assert interrupt.requested() is None
    interrupt.request(signal.SIGTERM)
    assert interrupt.requested() == signal.SIGTERM
    with pytest.raises(interrupt.Interrupted) as e:
        interrupt.check("before Sync wave 1")
    assert e.value.exit_code == 143 and "SIGTERM before Sync wave 1" in e.value.message and e.value.hint


def test_exit_codes_are_the_shells() -> None:
    assert interrupt.exit_code_for(signal.SIGINT) == ExitCode.INTERRUPTED == 130
    assert interrupt.exit_code_for(signal.SIGTERM) == 143


def test_the_first_signal_sets_the_flag_and_the_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    seen: list[str] = []
    with interrupt.handling(seen.append):
        os.kill(os.getpid(), signal.SIGTERM)  # delivered to the main thread before the next bytecode
        assert interrupt.requested() == signal.SIGTERM
        assert seen and "SIGTERM" in seen[0] and "again" in seen[0]
    assert signal.getsignal(signal.SIGTERM) is before


def test_handling_starts_with_a_clear_flag() -> None:
    interrupt.request(signal.SIGINT)
    with interrupt.handling():
        interrupt.check()


# --- which copies of a hook are stale ----------------------------------------------------------------------------

def job(name: str, run: str | None, *, state: str = "running", policy: str = "", created: str = "2024-01-01T00:00:00Z",
        hook: str = "h1") -> dict[str, Any]:
    ann = {"argocd.argoproj.io/hook": "PostSync"}
    if policy:
        ann["argocd.argoproj.io/hook-delete-policy"] = policy
    labels = {LABEL_HOOK: hook}
    if run:
        labels[LABEL_RUN] = run
    conditions = {"succeeded": [{"type": "Complete", "status": "True"}],
                  "failed": [{"type": "Failed", "status": "True"}], "running": []}[state]
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "ns", "annotations": ann, "labels": labels,
                         "creationTimestamp": created, "uid": f"uid-{name}"},
            "status": {"conditions": conditions}}


@pytest.mark.parametrize(("obj", "superseded", "stale"), [
    (job("a", "old", policy="BeforeHookCreation"), True, "superseded"),
    (job("a", "old"), True, "superseded"),  # no policy: BeforeHookCreation
    (job("a", "old", policy="BeforeHookCreation"), False, ""),  # the newest copy stays
    (job("a", "old", policy="HookSucceeded", state="succeeded"), False, "succeeded"),
    (job("a", "old", policy="HookSucceeded", state="running"), True, ""),  # still running: stays
    (job("a", "old", policy="HookSucceeded", state="failed"), True, ""),  # kept for inspection
    (job("a", "old", policy="HookFailed", state="failed"), False, "failed"),
    (job("a", "this"), True, ""),  # this run's own copy
    (job("a", None), True, ""),  # no run label: made before runs were labelled, not judged
])
def test_stale_reason(obj: dict[str, Any], superseded: bool, stale: str) -> None:
    reason = stale_reason(obj, run="this", superseded=superseded)
    assert reason.startswith(stale) and bool(reason) == bool(stale), reason


def test_leftovers_keep_the_newest_copy_of_each_hook() -> None:
    copies = [job("smoke-1", "r1", created="2024-01-01T00:00:01Z"),
              job("smoke-2", "r2", created="2024-01-01T00:00:02Z"),
              job("tidy-1", "r1", policy="HookSucceeded", state="succeeded", hook="h2"),
              job("tidy-2", "r2", policy="HookSucceeded", state="running", hook="h2"),
              job("legacy", None, hook="h3")]
    found = leftovers([(ResourceKey("batch", "Job", "ns", str(o["metadata"]["name"])), o) for o in copies])
    assert [(x.key.name, x.reason.split(" ")[0]) for x in found] == [("smoke-1", "superseded"), ("tidy-1", "succeeded")]


def test_hook_identity_ignores_the_generated_suffix_but_not_the_kind_of_name() -> None:
    key = ResourceKey("batch", "Job", "ns", "smoke-")
    assert hook_id(key, generated=True) == hook_id(key, generated=True) != hook_id(key, generated=False)
    assert len(hook_id(key, generated=True)) == 16


# --- the wave loop against a fake cluster ----------------------------------------------------------------------

def jobs_cluster(*, ambiguous_creates: int = 0, lost_creates: int = 0) -> tuple[Cluster, FakeApiServer]:
    """The shared fake API server (tests/fakes.py); Jobs complete as soon as they are created.
    ``ambiguous_creates``: the server acts, the answer is lost; ``lost_creates``: the request is lost before the
    server acts (also ambiguous to the client)."""
    cluster, server = fake_cluster()
    server.complete_jobs = True
    if ambiguous_creates:
        server.fail("POST", "Job", reset="after", times=ambiguous_creates)
    if lost_creates:
        server.fail("POST", "Job", times=lost_creates,
                    error=AmbiguousWriteError("reset", method="POST", path="/jobs"))
    return cluster, server


def jobs(server: FakeApiServer) -> list[dict[str, Any]]:
    return [o for o in (server.obj("Job", n, "ns") for n in server.names("Job")) if o is not None]


def calls(server: FakeApiServer, method: str) -> int:
    return sum(m == method for m, *_ in server.log)


def syncer(cluster: Cluster, run: str) -> Syncer:
    m = Manifest({"apiVersion": "batch/v1", "kind": "Job",
                  "metadata": {"generateName": "smoke-", "namespace": "ns",
                               "annotations": {"argocd.argoproj.io/hook": "PostSync"},
                               "labels": {"applyset.kubernetes.io/part-of": "app1"}}}, Origin("x.yaml", 1))
    plan = build_plan([m])
    return Syncer(cluster, plan, types={m.key: JOB}, objects={m.key: m.obj}, existing=set(),
                  needs_apply=lambda s: True, config=SyncConfig(concurrency=1, poll_interval=0.01), run_id=run)


def test_an_ambiguous_create_that_reached_the_server_carries_on_with_that_copy() -> None:
    cluster, server = jobs_cluster(ambiguous_creates=1)
    out = syncer(cluster, "run1").run()
    assert out.ok, out.message
    assert calls(server, "POST") == 1
    (made,) = jobs(server)
    assert made["metadata"]["labels"][LABEL_RUN] == "run1"
    assert made["metadata"]["labels"][LABEL_HOOK_PHASE] == "PostSync"


def test_an_ambiguous_create_that_did_not_reach_it_is_created_once_more() -> None:
    cluster, server = jobs_cluster(lost_creates=1)
    out = syncer(cluster, "run1").run()
    assert out.ok, out.message
    assert calls(server, "POST") == 2 and len(jobs(server)) == 1


def test_copies_left_by_earlier_runs_are_deleted_before_the_new_one() -> None:
    cluster, server = jobs_cluster()
    assert syncer(cluster, "run1").run().ok
    server.fail("POST", "Job", reset="after")  # run 2's create has an unknown outcome: its copy is found by its labels
    assert syncer(cluster, "run2").run().ok
    assert len(jobs(server)) == 1  # run 1's copy was deleted before run 2 created its own
    assert syncer(cluster, "run3").run().ok
    (left,) = jobs(server)
    assert left["metadata"]["labels"][LABEL_RUN] == "run3"


def test_a_requested_stop_starts_no_write() -> None:
    cluster, server = jobs_cluster()
    interrupt.request(signal.SIGINT)
    try:
        error = syncer(cluster, "run1").run().error  # the outcome carries it for the record ...
    except interrupt.Interrupted as e:  # ... or it is raised
        error = e
    assert isinstance(error, interrupt.Interrupted) and error.exit_code == 130
    assert jobs(server) == [] and server.written() == [] and cluster.writes == 0
