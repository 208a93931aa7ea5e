"""Argo CD hooks in `kubectl gitops sync`: phases, a failing PreSync hook, SyncFail hooks, delete policies and
generateName hooks, against the local control plane (see tests/sync_helpers.py for how a Job is made to fail).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cluster_helpers import audit_mark, kubectl_json
from sync_helpers import (
    SyncApp,
    argo,
    configmap,
    deployment,
    exists,
    job,
    job_condition,
    jobs_named,
    ok,
    writes_in,
)

pytestmark = pytest.mark.e2e


def uid(kind: str, name: str, namespace: str) -> str:
    return str(kubectl_json("get", kind, name, "-n", namespace)["metadata"]["uid"])


def test_a_failing_presync_hook_stops_the_sync_before_the_sync_phase_and_runs_syncfail(
        tmp_path: Path, namespace: str) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "presync-fails", ns)
    app.write("migrate.yaml", job("migrate", ns, argo(hook="PreSync"), fail=True))
    app.write("app.yaml", configmap("settings", ns) + "---\n" + deployment("web", ns, argo(wave=1)))
    app.write("post.yaml", job("smoke-test", ns, argo(hook="PostSync")))
    app.write("on-fail.yaml", job("page-oncall", ns, argo(hook="SyncFail")))
    app.commit()

    run = app.sync_json()
    assert run.code == 4, run
    assert run.wave_starts() == [("PreSync", 0), ("SyncFail", 0)]
    assert run.result["ok"] is False and "PreSync wave 0" in run.result["message"]
    assert [(s["name"], s["action"], s["health"]) for s in run.result["steps"]] == [
        ("migrate", "hook", "Degraded"), ("page-oncall", "hook", "Healthy")]
    assert run.index({"type": "syncfail.start"}) > run.index({"type": "health", "key": f"Job.batch {ns}/migrate",
                                                              "status": "Degraded"})
    # Nothing of the Sync or PostSync phase exists; the SyncFail hook ran to completion.
    for kind, name in (("configmap", "settings"), ("deployment", "web"), ("job", "smoke-test")):
        assert not exists(kind, name, ns), name
    assert job_condition("page-oncall", ns) == "Complete"
    # The failed hook stays for inspection (its delete policy is the default, BeforeHookCreation).
    assert job_condition("migrate", ns) == "Failed"

    human = app.sync()
    assert human.returncode == 4
    error = human.stderr.split("error: ", 1)[1]
    assert error.startswith("PreSync wave 0: 1 object(s) degraded")
    assert f"  - Job.batch {ns}/migrate: Degraded" in error  # names the hook and its health
    assert "running SyncFail hooks" in human.stderr
    assert not exists("configmap", "settings", ns)


def test_hook_failed_policy_deletes_a_hook_that_failed(tmp_path: Path, namespace: str) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "hookfailed", ns)
    app.write("migrate.yaml", job("migrate", ns, argo(hook="PreSync", delete_policy="HookFailed"), fail=True))
    app.write("app.yaml", configmap("settings", ns))
    app.commit()
    run = app.sync_json()
    assert run.code == 4, run
    assert [e["key"] for e in run.of("hook.deleted")] == [f"Job.batch {ns}/migrate"]
    assert run.of("hook.deleted")[0]["policy"] == "HookFailed"
    assert not exists("job", "migrate", ns) and not exists("configmap", "settings", ns)


def test_a_degraded_sync_wave_stops_later_waves_and_postsync(tmp_path: Path, namespace: str) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "wave-fails", ns)
    app.write("a.yaml", configmap("first", ns))
    app.write("b.yaml", job("check", ns, argo(hook="Sync", wave=1), fail=True))
    app.write("c.yaml", configmap("after", ns, argo(wave=2)))
    app.write("d.yaml", job("smoke-test", ns, argo(hook="PostSync")))
    app.commit()
    run = app.sync_json()
    assert run.code == 4, run
    assert run.wave_starts() == [("Sync", 0), ("Sync", 1)]
    assert exists("configmap", "first", ns)
    assert not exists("configmap", "after", ns) and not exists("job", "smoke-test", ns)


def test_hook_succeeded_hooks_are_deleted_and_before_hook_creation_hooks_are_recreated(
        tmp_path: Path, namespace: str) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "policies", ns)
    app.write("hooks.yaml", "---\n".join([
        job("cleanup", ns, argo(hook="PostSync", delete_policy="HookSucceeded")),
        job("migrate", ns, argo(hook="PreSync", delete_policy="BeforeHookCreation")),
        job("seed", ns, argo(hook="Sync", wave=1)),  # no policy: BeforeHookCreation is the default
    ]))
    app.write("app.yaml", configmap("settings", ns))
    app.commit()

    first = app.sync_json()
    assert first.code == 0, first
    assert [(e["key"], e["policy"]) for e in first.of("hook.deleted")] == [(f"Job.batch {ns}/cleanup",
                                                                             "HookSucceeded")]
    assert not exists("job", "cleanup", ns)
    assert job_condition("migrate", ns) == "Complete" and job_condition("seed", ns) == "Complete"
    before = {name: uid("job", name, ns) for name in ("migrate", "seed")}

    mark = audit_mark()
    again = app.sync_json()
    assert again.code == 0, again
    # Hooks run on every sync: the old Jobs were deleted just before the new ones were created.
    after = {name: uid("job", name, ns) for name in ("migrate", "seed")}
    assert all(after[n] != before[n] for n in after), (before, after)
    assert job_condition("migrate", ns) == "Complete" and job_condition("seed", ns) == "Complete"
    jobs = [(verb, name) for verb, resource, name in writes_in(ns, mark) if resource == "jobs"]
    for name in ("migrate", "seed"):
        assert jobs.index(("delete", name)) < jobs.index(("patch", name)), jobs
    assert ("patch", "cleanup") in jobs and ("delete", "cleanup") in jobs
    assert ("delete", "cleanup") not in jobs[:jobs.index(("patch", "cleanup"))]  # gone already: nothing to delete
    assert not exists("job", "cleanup", ns)
    # The ordinary object was unchanged and not written.
    assert [w for w in writes_in(ns, mark) if w[1] == "configmaps"] == []


def test_a_generate_name_hook_is_created_fresh_on_every_sync(tmp_path: Path, namespace: str) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "generated", ns)
    app.write("report.yaml", job("report-", ns, argo(hook="PostSync"), generate=True))
    app.write("tidy.yaml", job("tidy-", ns, argo(hook="PostSync", delete_policy="HookSucceeded"), generate=True))
    app.write("app.yaml", configmap("settings", ns))
    app.commit()

    ok(app.sync())
    first = [j["metadata"]["name"] for j in jobs_named("report-", ns)]
    ok(app.sync())
    names = [j["metadata"]["name"] for j in jobs_named("report-", ns)]
    # BeforeHookCreation (the default) covers generated names too: the first run's copy, found by its labels,
    # was deleted before the second run created its own
    assert len(first) == 1 and len(names) == 1 and names != first and names[0] != "report-", (first, names)
    assert job_condition(names[0], ns) == "Complete"
    # HookSucceeded finds a generated hook by the name the server gave it.
    assert jobs_named("tidy-", ns) == []


def test_phases_run_in_order_and_syncfail_hooks_do_not_run_on_success(tmp_path: Path, namespace: str) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "phases", ns)
    app.write("hooks.yaml", "---\n".join([
        job("post", ns, argo(hook="PostSync")),
        job("pre", ns, argo(hook="PreSync")),
        job("on-fail", ns, argo(hook="SyncFail")),
        job("skipped", ns, argo(hook="Skip")),
    ]))
    app.write("app.yaml", configmap("settings", ns))
    app.commit()
    run = app.sync_json()
    assert run.code == 0, run
    assert run.wave_starts() == [("PreSync", 0), ("Sync", 0), ("PostSync", 0)]
    assert [k for k, _ in run.applied()] == [f"Job.batch {ns}/pre", f"ConfigMap {ns}/settings", f"Job.batch {ns}/post"]
    assert not exists("job", "on-fail", ns) and not exists("job", "skipped", ns)
    assert run.of("syncfail.start") == []
