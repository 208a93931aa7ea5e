"""`kubectl gitops delete APP` against the local control plane (issue 17, item 2): every member in reverse
order, then the record; prune's guards; --dry-run; no terminal without --yes; completion of APP names."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli_helpers import ROOT, gitops
from cluster_helpers import kubectl_json
from sync_helpers import SyncApp, argo, configmap, deployment, exists, job, ok

pytestmark = pytest.mark.e2e


def delete(app: SyncApp, *args: str):  # type: ignore[no-untyped-def]
    return gitops("delete", *args, "--record-namespace", app.namespace, cwd=app.repo.path)


def three(tmp_path: Path, name: str, namespace: str, *, keep: bool = False) -> SyncApp:
    app = SyncApp(tmp_path, name, namespace)
    app.write("a.yaml", configmap("a", namespace, argo(wave=-1)))
    app.write("web.yaml", deployment("web", namespace, argo(wave=1), replicas=1))
    app.write("b.yaml", configmap("b", namespace, {"argocd.argoproj.io/sync-options": "Prune=false"} if keep
                                  else None))
    app.write("hook.yaml", job("migrate", namespace, argo(hook="PreSync")))  # BeforeHookCreation: it stays
    app.commit("three")
    ok(app.sync("--no-wait"))
    return app


def test_delete_removes_every_member_in_reverse_order_then_the_record(tmp_path: Path, namespace: str) -> None:
    app = three(tmp_path, "gone", namespace)
    other = SyncApp(tmp_path, "other", namespace)
    other.write("x.yaml", configmap("x", namespace))
    other.commit("x")
    ok(other.sync())

    refused = delete(app, "gone")  # no terminal, no --yes
    assert refused.returncode == 6, refused.stderr
    assert "no terminal to confirm" in refused.stderr
    assert exists("configmap", "a", namespace)

    dry = ok(delete(app, "gone", "--dry-run", "-o", "name"))
    assert exists("job", "migrate", namespace)
    # prune's order: higher waves first, within a wave the reverse of the kind order (the hook is in wave 0)
    assert dry.stdout.splitlines() == ["deployment.apps/web", "job.batch/migrate", "configmap/b", "configmap/a"]
    assert exists("deployment", "web", namespace)

    out = ok(delete(app, "gone", "--yes", "-o", "json"))
    doc = json.loads(out.stdout)
    assert doc["recordDeleted"] is True and doc["remaining"] == 0 and doc["ok"] is True
    assert doc["delete"]["deleted"][0] == f"Deployment.apps {namespace}/web"
    for name in ("a", "b"):
        assert not exists("configmap", name, namespace)
    assert not exists("deployment", "web", namespace)
    assert not exists("job", "migrate", namespace), "delete removes the app's hook objects too"
    assert not exists("secret", "kubectl-gitops.gone", namespace)
    assert exists("configmap", "x", namespace), "another app's object is never touched"
    assert exists("secret", "kubectl-gitops.other", namespace)

    again = delete(app, "gone", "--yes")
    assert again.returncode == 3 and "there is nothing to delete" in again.stderr
    ok(delete(app, "gone", "--yes", "--ignore-not-found"))


def test_delete_keeps_guarded_objects_and_then_the_record(tmp_path: Path, namespace: str) -> None:
    app = three(tmp_path, "kept", namespace, keep=True)
    out = ok(delete(app, "kept", "--yes"))
    assert "kept" in out.stdout and "Prune=false" in out.stdout
    assert "1 remain and the record is kept" in out.stdout
    assert exists("configmap", "b", namespace)
    assert not exists("configmap", "a", namespace)
    record = kubectl_json("get", "secret", "kubectl-gitops.kept", "-n", namespace)
    assert record["metadata"]["name"] == "kubectl-gitops.kept"


def test_app_names_complete_from_records(tmp_path: Path, namespace: str) -> None:
    import subprocess

    app = SyncApp(tmp_path, "compl", namespace)
    app.write("a.yaml", configmap("a", namespace))
    app.commit("a")
    ok(app.sync())
    proc = subprocess.run([str(ROOT / "bin" / "kubectl_complete-gitops"), "delete", "--record-namespace", namespace,
                           "co"], capture_output=True, text=True, timeout=60, env=dict(os.environ), check=False)
    assert proc.stdout.splitlines()[0] == "compl", proc.stdout + proc.stderr
    proc = subprocess.run([str(ROOT / "bin" / "kubectl_complete-gitops"), "history", "--record-namespace", namespace,
                           "--app", "com"], capture_output=True, text=True, timeout=60, env=dict(os.environ),
                          check=False)
    assert proc.stdout.splitlines()[0] == "compl", proc.stdout + proc.stderr


def test_delete_obeys_the_policys_prune_budget(tmp_path: Path, namespace: str) -> None:
    from cluster_helpers import kubectl

    app = SyncApp(tmp_path, "budgeted", namespace)
    for i in range(3):
        app.write(f"c{i}.yaml", configmap(f"c{i}", namespace))
    app.commit("three")
    ok(app.sync())
    kubectl("create", "configmap", "kubectl-gitops-policy", "-n", namespace,
            "--from-literal=policy.yaml=rules:\n- {name: careful, apps: ['*'], maxDeletes: 2}\n")
    res = delete(app, "budgeted", "--yes", "--policy-namespace", namespace)
    assert res.returncode == 6, res.stdout + res.stderr
    assert "3 deletions exceed maxDeletes 2" in res.stderr
    assert all(exists("configmap", f"c{i}", namespace) for i in range(3))
    assert exists("secret", "kubectl-gitops.budgeted", namespace)
