"""Inventory, ownership, prune and history, used the way a user would: `kubectl gitops ...` in real git
repositories against the local control plane.

Every test gets its own namespace, which is also the namespace of the app records (``--record-namespace``),
so apps of different tests never meet.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import gitops, on_terminal
from cluster_helpers import audit_mark, kubectl, kubectl_json, wait_for, writes_since
from source_helpers import GitRepo, configmap
from sync_helpers import SyncApp, ok

pytestmark = pytest.mark.e2e

PART_OF = "applyset.kubernetes.io/part-of"




def exists(kind: str, name: str, namespace: str | None = None) -> bool:
    args = ["get", kind, name] + (["-n", namespace] if namespace else [])
    return kubectl(*args, check=False).returncode == 0


def gone(kind: str, name: str, namespace: str | None = None) -> bool:
    return not exists(kind, name, namespace)


def labels(kind: str, name: str, namespace: str) -> dict[str, str]:
    return kubectl_json("get", kind, name, "-n", namespace)["metadata"].get("labels") or {}


def record(app: str, namespace: str) -> dict[str, Any]:
    secret: dict[str, Any] = kubectl_json("get", "secret", f"kubectl-gitops.{app}", "-n", namespace)
    return secret


def cm(name: str, namespace: str, *, annotations: dict[str, str] | None = None) -> str:
    if not annotations:
        return configmap(name, namespace=namespace)
    ann = "".join(f"\n    {k}: \"{v}\"" for k, v in annotations.items())
    return (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\n"
            f"  annotations:{ann}\ndata:\n  value: \"1\"\n")


def secret(name: str, namespace: str) -> str:
    return f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\nstringData:\n  k: v\n"


# --- prune ------------------------------------------------------------------------------------------------

def test_removing_a_file_prunes_its_object_and_nothing_else(tmp_path: Path, namespace: str) -> None:
    web = SyncApp(tmp_path, "web", namespace).write("a.yaml", cm("a", namespace)).write("b.yaml", cm("b", namespace))
    web.commit("two configmaps")
    ok(web.sync())
    other = SyncApp(tmp_path, "other", namespace).write("o.yaml", cm("other-app", namespace))
    other.commit()
    ok(other.sync())
    kubectl("create", "configmap", "by-hand", "-n", namespace, "--from-literal=k=v")
    assert labels("configmap", "a", namespace)[PART_OF] != labels("configmap", "other-app", namespace)[PART_OF]

    web.remove("b.yaml").commit("drop b")
    diff = web.run("diff", "-o", "json")
    assert diff.returncode == 1, diff.stderr
    assert [(c["op"], c["name"]) for c in json.loads(diff.stdout)["changes"] if c["op"] != "unchanged"] == \
        [("delete", "b")]

    refused = web.prune()  # no terminal and no --yes
    assert refused.returncode == 6, refused.stderr
    assert "no terminal" in refused.stderr and exists("configmap", "b", namespace)

    dry = ok(web.prune("--dry-run"))
    assert "would delete" in dry.stdout and exists("configmap", "b", namespace)

    mark = audit_mark()
    ok(web.prune("--yes"))
    assert gone("configmap", "b", namespace)
    for survivor in ("a", "other-app", "by-hand"):
        assert exists("configmap", survivor, namespace), survivor
    writes = [(w.verb, w.resource, w.name) for w in writes_since(mark) if not w.dry_run]
    assert sorted(writes) == [("delete", "configmaps", "b"), ("patch", "secrets", "kubectl-gitops.web")]


def test_on_a_terminal_prune_shows_the_list_and_asks(tmp_path: Path, namespace: str) -> None:
    app = SyncApp(tmp_path, "tty", namespace).write("keep.yaml", cm("keep", namespace))
    app.write("old.yaml", cm("old", namespace))
    app.write("precious.yaml", cm("precious", namespace,
                                  annotations={"argocd.argoproj.io/sync-options": "Prune=confirm"}))
    app.commit()
    ok(app.sync())
    app.remove("old.yaml").remove("precious.yaml").commit()
    args = ["prune", "--app", "tty", "--record-namespace", namespace]

    code, out = on_terminal(args, cwd=app.repo.path, answer="n")
    assert code == 6, out
    assert f"ConfigMap {namespace}/old" in out and f"ConfigMap {namespace}/precious  (Prune=confirm)" in out
    assert exists("configmap", "old", namespace) and exists("configmap", "precious", namespace)

    code, out = on_terminal(args, cwd=app.repo.path, answer="y")
    assert code == 0, out
    assert gone("configmap", "old", namespace) and gone("configmap", "precious", namespace)  # a yes confirms both
    assert exists("configmap", "keep", namespace)


def test_a_deletion_that_does_not_finish_in_time_fails_and_stays_in_the_record(tmp_path: Path,
                                                                               namespace: str) -> None:
    held = (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  namespace: {namespace}\n"
            "  finalizers: [example.com/hold]\ndata:\n  value: \"1\"\n")
    app = SyncApp(tmp_path, "held", namespace).write("keep.yaml", cm("keep", namespace))
    app.write("held.yaml", held).write("s.yaml", secret("s", namespace))
    app.commit()
    ok(app.sync())
    app.remove("held.yaml").remove("s.yaml").commit()
    try:
        stuck = app.prune("--yes", "--timeout", "2s")
        assert stuck.returncode == 4, stuck.stderr
        assert "still there at the timeout" in stuck.stdout
        # Reverse kind order deletes ConfigMaps before Secrets: a batch that does not go away stops the prune.
        assert exists("secret", "s", namespace) and "not attempted" in stuck.stdout
        entries = app.history()
        assert entries[-1]["operation"] == "prune" and entries[-1]["result"] == "failed"
        assert record("held", namespace)["metadata"]["annotations"][
            "applyset.kubernetes.io/contains-group-kinds"] == "ConfigMap,Secret"
    finally:
        kubectl("patch", "configmap", "held", "-n", namespace, "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    wait_for("the held ConfigMap to go", lambda: gone("configmap", "held", namespace))
    ok(app.prune("--yes"))  # the record still covered the Secret
    assert gone("secret", "s", namespace)


def test_sync_prune_deletes_after_the_last_wave_in_reverse_order(tmp_path: Path, namespace: str) -> None:
    app = SyncApp(tmp_path, "waves", namespace)
    app.write("a.yaml", cm("early", namespace, annotations={"argocd.argoproj.io/sync-wave": "-1"}))
    app.write("b.yaml", cm("late", namespace, annotations={"argocd.argoproj.io/sync-wave": "3"}))
    app.write("c.yaml", cm("last", namespace, annotations={"argocd.argoproj.io/sync-options": "PruneLast=true"}))
    app.write("keep.yaml", cm("keep", namespace))
    app.commit()
    ok(app.sync())
    for f in ("a.yaml", "b.yaml", "c.yaml"):
        app.remove(f)
    app.commit("remove three")
    out = ok(app.sync("--prune", "--yes", "-o", "json"))
    events = [json.loads(line) for line in out.stdout.splitlines()]
    deleted = [e["key"] for e in events if e["type"] == "prune.gone"]
    assert deleted == [f"ConfigMap {namespace}/late", f"ConfigMap {namespace}/early", f"ConfigMap {namespace}/last"]
    assert events[-1]["prune"]["ok"] is True
    assert exists("configmap", "keep", namespace)


def test_prune_false_and_flux_prune_disabled_survive(tmp_path: Path, namespace: str) -> None:
    app = SyncApp(tmp_path, "guarded", namespace)
    app.write("keep.yaml", cm("keep", namespace))
    app.write("argo.yaml", cm("argo-keep", namespace, annotations={"argocd.argoproj.io/sync-options": "Prune=false"}))
    app.write("flux.yaml", cm("flux-keep", namespace, annotations={"kustomize.toolkit.fluxcd.io/prune": "disabled"}))
    app.write("confirm.yaml", cm("confirm", namespace,
                                 annotations={"argocd.argoproj.io/sync-options": "Prune=confirm"}))
    app.commit()
    ok(app.sync())
    for f in ("argo.yaml", "flux.yaml", "confirm.yaml"):
        app.remove(f)
    app.commit()

    out = ok(app.prune("--yes"))
    assert exists("configmap", "argo-keep", namespace) and exists("configmap", "flux-keep", namespace)
    assert "Prune=false" in out.stdout and "kustomize.toolkit.fluxcd.io/prune" in out.stdout
    assert exists("configmap", "confirm", namespace)  # Prune=confirm needs an explicit confirmation
    assert "--confirm-prune" in out.stderr

    ok(app.prune("--yes", "--confirm-prune"))
    assert gone("configmap", "confirm", namespace)
    assert exists("configmap", "argo-keep", namespace) and exists("configmap", "flux-keep", namespace)


def test_a_crd_is_pruned_only_with_allow_crd_deletion(tmp_path: Path, namespace: str) -> None:
    group = f"{namespace}.example.com"
    crd = (f"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.{group}\n"
           f"spec:\n  group: {group}\n  scope: Namespaced\n"
           "  names: {plural: widgets, singular: widget, kind: Widget}\n"
           "  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n"
           "        type: object\n        x-kubernetes-preserve-unknown-fields: true\n")
    widget = f"apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: w1\n  namespace: {namespace}\nspec: {{}}\n"
    app = SyncApp(tmp_path, "crd", namespace).write("crd.yaml", crd).write("w.yaml", widget)
    app.write("keep.yaml", cm("keep", namespace))
    app.commit()
    try:
        ok(app.sync())
        assert exists(f"widgets.{group}", "w1", namespace)
        app.remove("crd.yaml").remove("w.yaml").commit("drop the CRD")

        out = ok(app.prune("--yes"))
        assert gone(f"widgets.{group}", "w1", namespace)  # the custom resource is an ordinary member
        assert exists("crd", f"widgets.{group}")
        assert "--allow-crd-deletion" in out.stdout

        ok(app.prune("--yes", "--allow-crd-deletion"))  # the kept CRD stayed in the record: found again
        wait_for("the CRD to be gone", lambda: gone("crd", f"widgets.{group}"))
    finally:
        kubectl("delete", "crd", f"widgets.{group}", "--ignore-not-found", "--wait=false")


def test_a_namespace_that_still_holds_other_objects_is_not_pruned(tmp_path: Path, namespace: str) -> None:
    shared = f"{namespace}-shared"
    ns = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {shared}\n"
    app = SyncApp(tmp_path, "nsguard", namespace).write("ns.yaml", ns).write("in.yaml", cm("mine", shared))
    app.write("keep.yaml", cm("keep", namespace))
    app.commit()
    try:
        ok(app.sync())
        kubectl("create", "configmap", "someone-elses", "-n", shared, "--from-literal=k=v")
        app.remove("ns.yaml").remove("in.yaml").commit("drop the namespace")

        out = ok(app.prune("--yes"))
        assert gone("configmap", "mine", shared)
        assert exists("namespace", shared) and exists("configmap", "someone-elses", shared)
        assert "someone-elses" in out.stdout  # the reason names what keeps it

        kubectl("delete", "configmap", "someone-elses", "-n", shared)
        ok(app.prune("--yes"))
        wait_for(f"namespace {shared} to be gone", lambda: gone("namespace", shared), timeout=120)
    finally:
        kubectl("delete", "namespace", shared, "--ignore-not-found", "--wait=false")


def test_an_empty_render_is_refused(tmp_path: Path, namespace: str) -> None:
    app = SyncApp(tmp_path, "empty", namespace).write("deploy/a.yaml", cm("a", namespace))
    app.write("README.md", "manifests live in deploy/\n")
    app.commit()
    ok(app.sync("--path", "deploy"))
    app.remove("deploy/a.yaml").write("deploy/.keep", "").commit("oops, everything is gone")

    refused = app.prune("--path", "deploy", "--yes")
    assert refused.returncode == 6, refused.stderr
    assert "--allow-empty" in refused.stderr and exists("configmap", "a", namespace)
    assert app.sync("--path", "deploy", "--prune", "--yes").returncode == 6
    assert exists("configmap", "a", namespace)

    ok(app.prune("--path", "deploy", "--yes", "--allow-empty"))
    assert gone("configmap", "a", namespace)


@pytest.mark.parametrize("point", ["before-apply", "after-apply"])
def test_prune_after_a_sync_killed_mid_way_removes_the_right_objects(tmp_path: Path, namespace: str,
                                                                     point: str) -> None:
    app = SyncApp(tmp_path, "crash", namespace).write("a.yaml", cm("a", namespace)).write("b.yaml", cm("b", namespace))
    app.commit("v1")
    ok(app.sync())
    # v2 drops b and brings a kind the record has never seen; the sync is killed mid-way.
    app.remove("b.yaml").write("s.yaml", secret("s", namespace)).commit("v2")
    killed = app.run("sync", env={"KUBECTL_GITOPS_FAULT": point, "KUBECTL_GITOPS_LEASE_SECONDS": "3"})
    assert killed.returncode == 137, killed.stderr
    rec = record("crash", namespace)
    assert rec["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"] == "ConfigMap,Secret"
    assert len(app.history()) == 1  # the killed sync never recorded its end
    assert exists("secret", "s", namespace) == (point == "after-apply")

    # v3 drops the Secret again: only the superset written before applying lets prune find it.
    app.remove("s.yaml").commit("v3")
    pruned = ok(app.prune("--yes", "--lock-timeout", "1m"))  # the killed run's Lease expires after 3s
    assert "took over the Lease" in pruned.stderr
    assert gone("configmap", "b", namespace) and gone("secret", "s", namespace)
    assert exists("configmap", "a", namespace)
    rec = record("crash", namespace)
    assert rec["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"] == "ConfigMap"


def test_a_no_op_prune_lists_once_per_kind_and_namespace_and_writes_nothing(tmp_path: Path, namespace: str) -> None:
    other_ns = f"{namespace}-b"
    kubectl("create", "namespace", other_ns)
    try:
        app = SyncApp(tmp_path, "noop", namespace)
        for i in range(5):
            app.write(f"c{i}.yaml", cm(f"c{i}", namespace)).write(f"d{i}.yaml", cm(f"d{i}", other_ns))
            app.write(f"s{i}.yaml", secret(f"s{i}", other_ns))
        app.commit()
        ok(app.sync())
        mark = audit_mark()
        doc = json.loads(ok(app.prune("--yes", "-o", "json")).stdout)
        assert doc["prune"]["lists"] == 4  # {ConfigMap, Secret} x {namespace, namespace-b}
        assert doc["requests"] <= 2 + 1 + 4  # discovery (/api, /apis), the record, the LISTs
        assert doc["writes"] == 0 and writes_since(mark) == []
    finally:
        kubectl("delete", "namespace", other_ns, "--wait=false")


# --- history ----------------------------------------------------------------------------------------------

def test_history_shows_each_sync_and_a_rollback_is_a_sync_of_an_older_commit(tmp_path: Path, namespace: str) -> None:
    app = SyncApp(tmp_path, "hist", namespace).write("a.yaml", cm("a", namespace))
    v1 = app.commit("v1")
    ok(app.sync())
    v2 = app.write("b.yaml", cm("b", namespace)).commit("v2")
    ok(app.sync())
    ok(app.sync("--ref", v1, "--prune", "--yes"))  # roll back
    assert gone("configmap", "b", namespace)

    entries = app.history()
    assert [(e["revision"], e["operation"], e["result"], e["commit"]) for e in entries] == [
        (1, "sync", "succeeded", v1), (2, "sync", "succeeded", v2), (3, "sync", "succeeded", v1)]
    assert entries[2]["ref"] == v1 and entries[2]["counts"]["pruned"] == 1
    assert entries[0]["user"] and entries[0]["time"].endswith("Z")
    table = ok(app.run("history")).stdout
    assert v1[:12] in table and v2[:12] in table and "1 pruned" in table


def test_history_finds_the_app_from_the_repository_without_app(tmp_path: Path, namespace: str) -> None:
    """Also: two remote-less repositories with the same folder name never share an app (see the hash)."""
    repo = GitRepo.create(tmp_path / f"shop-{uuid.uuid4().hex[:6]}")
    repo.write("deploy/a.yaml", cm("a", namespace))
    repo.commit()
    ok(gitops("sync", "--path", "deploy", "--record-namespace", namespace, cwd=repo.path))
    where = hashlib.sha256(str(repo.path.resolve()).encode()).hexdigest()[:6]
    expected = f"{repo.path.name}-{where}-deploy"  # no remote: folder name + a hash of its path
    assert exists("secret", f"kubectl-gitops.{expected}", namespace)
    doc = json.loads(ok(gitops("history", "--path", "deploy", "--record-namespace", namespace, "-o", "json",
                               cwd=repo.path)).stdout)
    assert doc["app"] == expected and len(doc["history"]) == 1


# --- ownership --------------------------------------------------------------------------------------------

def test_an_object_of_another_app_is_refused_and_adopted_with_adopt(tmp_path: Path, namespace: str) -> None:
    first = SyncApp(tmp_path, "first", namespace).write("s.yaml", cm("shared", namespace))
    first.commit()
    ok(first.sync())
    second = SyncApp(tmp_path, "second", namespace).write("s.yaml", cm("shared", namespace))
    second.write("own.yaml", cm("own", namespace))
    second.commit()

    mark = audit_mark()
    refused = second.sync()
    assert refused.returncode == 6, refused.stderr
    assert f"ConfigMap {namespace}/shared" in refused.stderr and "kubectl-gitops app first" in refused.stderr
    assert [w for w in writes_since(mark) if not w.dry_run] == []  # refused before any write
    assert gone("configmap", "own", namespace)

    ok(second.sync("--adopt"))
    assert labels("configmap", "shared", namespace)[PART_OF] == record("second", namespace)["metadata"]["labels"][
        "applyset.kubernetes.io/id"]
    # The first app no longer owns it: its prune leaves it alone.
    first.remove("s.yaml").write("other.yaml", cm("first-other", namespace)).commit()
    ok(first.sync("--prune", "--yes"))
    assert exists("configmap", "shared", namespace)


def test_an_argo_cd_tracked_object_is_refused_and_adopted_with_adopt(tmp_path: Path, namespace: str) -> None:
    tracked = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "guestbook-ui", "namespace": namespace,
        "annotations": {"argocd.argoproj.io/tracking-id": f"guestbook:/ConfigMap:{namespace}/guestbook-ui"}},
        "data": {"value": "1"}})
    kubectl("apply", "-f", "-", input=tracked)
    kubectl("create", "configmap", "unowned", "-n", namespace, "--from-literal=value=1")
    app = SyncApp(tmp_path, "takeover", namespace).write("g.yaml", cm("guestbook-ui", namespace))
    app.write("u.yaml", cm("unowned", namespace))
    app.commit()

    refused = app.sync()
    assert refused.returncode == 6, refused.stderr
    assert "Argo CD app guestbook" in refused.stderr and "argocd.argoproj.io/tracking-id" in refused.stderr
    assert f"ConfigMap {namespace}/unowned" in refused.stderr and "belongs to no app" in refused.stderr
    assert PART_OF not in labels("configmap", "guestbook-ui", namespace)

    ok(app.sync("--adopt"))
    assert PART_OF in labels("configmap", "guestbook-ui", namespace)
    assert PART_OF in labels("configmap", "unowned", namespace)
    ok(app.sync())  # adopted once, ours from then on


def test_two_repositories_with_the_same_folder_name_do_not_share_an_app(tmp_path: Path, namespace: str) -> None:
    first, second = GitRepo.create(tmp_path / "a" / "deploy"), GitRepo.create(tmp_path / "b" / "deploy")
    first.write("x.yaml", cm("from-a", namespace))
    second.write("y.yaml", cm("from-b", namespace))
    first.commit()
    second.commit()
    ok(gitops("sync", "--record-namespace", namespace, cwd=first.path))
    ok(gitops("sync", "--record-namespace", namespace, cwd=second.path))
    pruned = gitops("prune", "--record-namespace", namespace, "--yes", cwd=second.path)
    assert pruned.returncode == 0, pruned.stderr
    assert exists("configmap", "from-a", namespace) and exists("configmap", "from-b", namespace)
    assert labels("configmap", "from-a", namespace)[PART_OF] != labels("configmap", "from-b", namespace)[PART_OF]
