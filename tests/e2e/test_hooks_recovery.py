"""Hooks after interrupted runs (issue 12, item 3), on the local control plane: a SIGKILL during PostSync
leaves the run's generateName Jobs; ``prune --dry-run`` lists the copies other runs left for their policy to
delete as leftover hooks; the next sync deletes them by their delete policy before creating its own, so
exactly one copy of each BeforeHookCreation hook remains (none of a HookSucceeded one)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cluster_helpers import wait_for
from faults.kill import run_and_kill
from faults.recovery import env, sync_argv
from sync_helpers import SyncApp, argo, configmap, job, job_condition, jobs_named, ok

pytestmark = pytest.mark.e2e


def test_a_kill_during_postsync_leaves_hooks_the_next_sync_deletes(tmp_path: Path, namespace: str) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "hook-kill", ns)
    app.write("app.yaml", configmap("settings", ns))
    app.write("hooks.yaml", job("smoke-", ns, argo(hook="PostSync"), generate=True) + "---\n"
              + job("notify-", ns, argo(hook="PostSync", wave=1, delete_policy="HookSucceeded"), generate=True))
    app.commit()
    ok(app.sync())
    first = [j["metadata"]["name"] for j in jobs_named("smoke-", ns)]
    assert len(first) == 1 and jobs_named("notify-", ns) == []

    # Killed in PostSync wave 1, once its Job was created: its HookSucceeded policy never ran.
    r = run_and_kill(sync_argv(app, prune=False), cwd=app.repo.path, env=env(), when_stderr="notify-: hook")
    assert r.killed, r.stderr
    smokes = jobs_named("smoke-", ns)  # the first run's copy was deleted before the killed run made its own
    notifies = jobs_named("notify-", ns)
    assert len(smokes) == 1 and smokes[0]["metadata"]["name"] != first[0] and len(notifies) == 1, (smokes, r.stderr)
    killed_run = smokes[0]["metadata"]["labels"]["gitops.kubectl.dev/run"]
    assert notifies[0]["metadata"]["labels"]["gitops.kubectl.dev/run"] == killed_run
    assert notifies[0]["metadata"]["labels"]["gitops.kubectl.dev/hook-phase"] == "PostSync"

    # prune lists what the killed run left for its policy to delete: the finished HookSucceeded Job (the smoke
    # Job is the newest copy of a BeforeHookCreation hook: it stays, as after any sync)
    wait_for("the killed run's notify Job to complete",
             lambda: job_condition(notifies[0]["metadata"]["name"], ns) == "Complete")
    dry = app.run("prune", "--dry-run", "-o", "json")
    assert dry.returncode == 0, dry.stderr
    leftover = {h["name"]: h["note"] for h in json.loads(dry.stdout)["prune"]["leftoverHooks"]}
    assert list(leftover) == [notifies[0]["metadata"]["name"]], leftover
    assert "succeeded (HookSucceeded; left by run" in leftover[notifies[0]["metadata"]["name"]]
    table = app.run("prune", "--dry-run")
    assert "leftover hooks (1" in table.stdout and "and 1 leftover hook(s)" in table.stdout, table.stdout

    # the next sync (after the killed run's Lease expired) deletes them before creating its own copies
    nxt = app.run("sync", "--lock-timeout", "60s", env={"KUBECTL_GITOPS_LEASE_SECONDS": "3"})
    assert nxt.returncode == 0, nxt.stderr
    after = jobs_named("smoke-", ns)
    assert len(after) == 1 and after[0]["metadata"]["name"] not in {first[0], smokes[0]["metadata"]["name"]}, after
    assert jobs_named("notify-", ns) == []
    dry = app.run("prune", "--dry-run", "-o", "json")
    assert json.loads(dry.stdout)["prune"]["leftoverHooks"] == []


def test_prune_yes_deletes_leftover_hooks(tmp_path: Path, namespace: str) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "hook-prune", ns)
    app.write("app.yaml", configmap("settings", ns))
    app.write("hooks.yaml", job("tidy-", ns, argo(hook="PostSync", delete_policy="HookSucceeded"), generate=True))
    app.commit()
    r = run_and_kill(sync_argv(app, prune=False), cwd=app.repo.path, env=env(), when_stderr="tidy-: hook")
    assert r.killed and len(jobs_named("tidy-", ns)) == 1, r.stderr
    name = jobs_named("tidy-", ns)[0]["metadata"]["name"]
    wait_for("the killed run's Job to complete", lambda: job_condition(name, ns) == "Complete")
    pruned = app.run("prune", "--yes", "--lock-timeout", "60s", env={"KUBECTL_GITOPS_LEASE_SECONDS": "3"})
    assert pruned.returncode == 0, pruned.stderr
    assert "leftover hooks (1" in pruned.stdout and "deleted" in pruned.stdout, pruned.stdout
    assert jobs_named("tidy-", ns) == []
