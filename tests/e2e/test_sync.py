"""`kubectl gitops sync` against the local control plane, used the way a user does: real git repositories,
the plugin on PATH, and the `-o json` event stream (one event per line, then a ``{"type": "result"}`` line).

What is checked here: Argo CD wave order with health gating, CRDs and their custom resources in one sync,
timeouts, no object written by a no-op re-sync, the GitOps guards (dirty tree, unpushed commit), all-or-nothing
validation, --dry-run, field-manager conflicts and the source-commit annotation. Hooks: test_sync_hooks.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cluster_helpers import audit_mark, kubectl, kubectl_json
from source_helpers import GitRepo
from sync_helpers import (
    Run,
    SyncApp,
    argo,
    configmap,
    deployment,
    exists,
    job,
    ok,
    replicaset,
    service,
    writes_in,
)

pytestmark = pytest.mark.e2e

ANN_SOURCE_COMMIT = "gitops.kubectl.dev/source-commit"


def assert_each_wave_starts_after_the_previous_is_healthy(run: Run) -> None:
    """For every wave: all of its objects reported Healthy, and its wave.done came, before the next
    wave.start; and nothing of the next wave was applied before that start."""
    starts = [i for i, e in enumerate(run.events) if e["type"] == "wave.start"]
    for n, (start, nxt) in enumerate(zip(starts, [*starts[1:], len(run.events)], strict=True)):
        wave = run.events[start]
        section = run.events[start:nxt]
        assert [e["type"] for e in section].count("wave.done") == 1, f"wave {n} did not finish before the next"
        last_health: dict[str, str] = {}
        for e in section:
            if e["type"] == "health":
                last_health[e["key"]] = e["status"]
            if e["type"] in ("apply", "health"):
                assert (e["phase"], e["wave"]) == (wave["phase"], wave["wave"]), \
                    f"{e} happened during {wave['phase']} wave {wave['wave']}"
        assert last_health == dict.fromkeys(wave["keys"], "Healthy"), \
            f"{wave['phase']} wave {wave['wave']} ended with {last_health}"


# --- order and health gating ---------------------------------------------------------------------------

def test_argo_sync_waves_example_applies_in_order_each_wave_after_the_previous_is_healthy(
        tmp_path: Path, namespace: str) -> None:
    """The shape of Argo CD's sync-waves example: a PreSync schema job; wave 0 backend Service and
    ReplicaSet; wave 1 a Sync hook (maintenance page up); wave 2 the frontend; wave 3 a Sync hook (page down)."""
    ns = namespace
    app = SyncApp(tmp_path, "sync-waves", ns)
    app.write("manifests.yaml", "---\n".join([
        job("upgrade-sql-schema-", ns, argo(hook="PreSync"), generate=True),
        replicaset("backend", ns),
        service("backend", ns, port=8080),
        job("maint-page-up", ns, argo(hook="Sync", wave=1)),
        deployment("frontend", ns, argo(wave=2)),
        service("frontend", ns, argo(wave=2)),
        job("maint-page-down", ns, argo(hook="Sync", wave=3)),
    ]))
    commit = app.commit("the sync-waves example")

    run = app.sync_json()
    assert run.code == 0, run
    assert run.wave_starts() == [("PreSync", 0), ("Sync", 0), ("Sync", 1), ("Sync", 2), ("Sync", 3)]
    assert run.applied() == [
        (f"Job.batch {ns}/upgrade-sql-schema-", "hook"),
        (f"Service {ns}/backend", "created"),  # kind order within a wave: Service before ReplicaSet
        (f"ReplicaSet.apps {ns}/backend", "created"),
        (f"Job.batch {ns}/maint-page-up", "hook"),
        (f"Service {ns}/frontend", "created"),
        (f"Deployment.apps {ns}/frontend", "created"),
        (f"Job.batch {ns}/maint-page-down", "hook"),
    ]
    assert_each_wave_starts_after_the_previous_is_healthy(run)
    # The ReplicaSet really was waited for: it was seen not yet available, then Healthy, before wave 1.
    rs = [e["status"] for e in run.of("health") if e["key"] == f"ReplicaSet.apps {ns}/backend"]
    assert rs[0] != "Healthy" and rs[-1] == "Healthy", rs
    assert run.index({"type": "health", "key": f"ReplicaSet.apps {ns}/backend", "status": "Healthy"}) < \
        run.index({"type": "apply", "key": f"Job.batch {ns}/maint-page-up"})
    assert run.result["ok"] is True and run.result["commit"] == commit
    assert [(s["phase"], s["wave"], s["name"], s["health"]) for s in run.result["steps"]] == [
        ("PreSync", 0, "upgrade-sql-schema-", "Healthy"), ("Sync", 0, "backend", "Healthy"),
        ("Sync", 0, "backend", "Healthy"), ("Sync", 1, "maint-page-up", "Healthy"),
        ("Sync", 2, "frontend", "Healthy"), ("Sync", 2, "frontend", "Healthy"),
        ("Sync", 3, "maint-page-down", "Healthy"),
    ]
    assert kubectl_json("get", "deployment", "frontend", "-n", ns)["status"].get("availableReplicas") == 2


def test_human_output_has_a_line_per_wave_and_a_summary_table(tmp_path: Path, namespace: str) -> None:
    app = SyncApp(tmp_path, "human", namespace)
    app.write("a.yaml", configmap("first", namespace, argo(wave=-1)))
    app.write("b.yaml", deployment("web", namespace, replicas=1))
    app.commit()
    proc = ok(app.sync())
    assert "==> Sync wave -1: 1 objects" in proc.stderr and "==> Sync wave 0: 1 objects" in proc.stderr
    assert f"Deployment.apps {namespace}/web: Healthy" in proc.stderr
    header = proc.stdout.splitlines()[0].split()
    assert header == ["PHASE", "WAVE", "KIND", "NAMESPACE/NAME", "ACTION", "HEALTH", "TIME"]
    assert "synced HEAD @" in proc.stdout


def test_crd_and_its_custom_resources_in_one_sync(tmp_path: Path, namespace: str) -> None:
    """The CRD is applied and Established before its custom resources are applied, in the same wave."""
    group = f"{namespace}.example.com"
    crd = (f"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.{group}\n"
           f"spec:\n  group: {group}\n  scope: Namespaced\n"
           "  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}\n"
           "  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n"
           "        type: object\n        x-kubernetes-preserve-unknown-fields: true\n")
    widgets = "---\n".join(
        f"apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: {n}\n  namespace: {namespace}\nspec:\n  size: {i}\n"
        for i, n in enumerate(["w1", "w2", "w3"]))
    app = SyncApp(tmp_path, "crd", namespace)
    app.write("a-widgets.yaml", widgets).write("z-crd.yaml", crd).write("cm.yaml", configmap("c", namespace))
    app.commit()
    try:
        run = app.sync_json()
        assert run.code == 0, run
        crd_key = f"CustomResourceDefinition.apiextensions.k8s.io widgets.{group}"
        established = run.index({"type": "health", "key": crd_key, "status": "Healthy"})
        for i, n in enumerate(("w1", "w2", "w3")):
            assert run.index({"type": "apply", "key": f"Widget.{group} {namespace}/{n}"}) > established
            assert kubectl_json("get", f"widgets.{group}", n, "-n", namespace)["spec"]["size"] == i
        assert run.wave_starts() == [("Sync", 0)]
        # A second sync knows the kind now: it dry-runs the custom resources and writes nothing new.
        mark = audit_mark()
        again = app.sync_json()
        assert again.code == 0, again
        assert [s["action"] for s in again.result["steps"]] == ["unchanged"] * 5 and again.applied() == []
        assert [w for w in writes_in(namespace, mark) if w[1] != "secrets"] == []
    finally:
        kubectl("delete", "crd", f"widgets.{group}", "--wait=false", "--ignore-not-found")


def test_a_deployment_that_never_becomes_available_times_out_naming_it(tmp_path: Path, namespace: str) -> None:
    app = SyncApp(tmp_path, "stuck", namespace)
    app.write("stuck.yaml", deployment("stuck", namespace, replicas=1, never_available=True))
    app.write("ok.yaml", configmap("ready", namespace))
    app.write("later.yaml", configmap("later", namespace, argo(wave=1)))
    app.commit()

    proc = app.sync("--wave-timeout", "5s")
    assert proc.returncode == 4, proc.stderr
    error = proc.stderr.split("error: ", 1)[1]
    assert error.startswith("Sync wave 0: timed out after 5s") and "--wave-timeout" in error.splitlines()[0]
    # The object, its health and why: one line per object that is not healthy, and only those.
    assert error.splitlines()[1:] == [f"  - Deployment.apps {namespace}/stuck: Progressing: 0/1 replicas available"]
    assert not exists("configmap", "later", namespace)  # the next wave never started

    run = app.sync_json("--wave-timeout", "2s")
    assert run.code == 4 and run.result["ok"] is False
    assert "timed out" in run.result["message"]
    assert run.wave_starts() == [("Sync", 0)]


def test_no_wait_does_not_gate_waves_on_health(tmp_path: Path, namespace: str) -> None:
    app = SyncApp(tmp_path, "nowait", namespace)
    app.write("stuck.yaml", deployment("stuck", namespace, replicas=1, never_available=True))
    app.write("later.yaml", configmap("later", namespace, argo(wave=1)))
    app.commit()
    run = app.sync_json("--no-wait", "--wave-timeout", "2s")
    assert run.code == 0, run
    assert run.wave_starts() == [("Sync", 0), ("Sync", 1)] and run.of("health") == []
    assert exists("configmap", "later", namespace)


# --- writes --------------------------------------------------------------------------------------------

def test_a_resync_of_an_unchanged_repo_makes_zero_write_calls(tmp_path: Path, namespace: str) -> None:
    """Objects that are unchanged are not written at all (no apply, not even a no-op patch), and the record
    already shows this commit synced, so it is not written either."""
    ns = namespace
    app = SyncApp(tmp_path, "noop", ns)
    app.write("config.yaml", "---\n".join(configmap(f"c{i}", ns) for i in range(4)))
    app.write("secret.yaml", f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: {ns}\n"
                             "stringData:\n  password: not-a-real-one\n")
    app.write("rbac.yaml", f"apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: r\n"
                           f"  namespace: {ns}\nrules:\n- apiGroups: ['']\n  resources: [configmaps]\n  verbs: [get]\n")
    app.write("web.yaml", deployment("web", ns, argo(wave=1)) + "---\n" + service("web", ns, argo(wave=1)))
    app.commit()
    first = app.sync_json()
    assert first.code == 0, first

    mark = audit_mark()
    again = app.sync_json()
    assert again.code == 0, again
    assert writes_in(ns, mark) == []  # not even the app record (kubectl-gitops.<app>)
    assert {s["action"] for s in again.result["steps"]} == {"unchanged"} and again.applied() == []
    assert again.of("sync.done")[0]["writes"] == 0


# --- GitOps discipline ------------------------------------------------------------------------------------

def test_a_dirty_work_tree_is_refused_and_allow_dirty_applies_it(tmp_path: Path, namespace: str) -> None:
    app = SyncApp(tmp_path, "dirty", namespace)
    app.write("a.yaml", configmap("a", namespace, value="committed"))
    app.commit()
    app.write("a.yaml", configmap("a", namespace, value="edited"))

    mark = audit_mark()
    refused = app.sync()
    assert refused.returncode == 6, refused.stderr
    assert "uncommitted changes" in refused.stderr and "--allow-dirty" in refused.stderr
    assert not exists("configmap", "a", namespace)
    assert writes_in(namespace, mark) == []

    proc = ok(app.sync("--allow-dirty"))
    assert "uncommitted work tree" in proc.stderr  # said out loud
    live = kubectl_json("get", "configmap", "a", "-n", namespace)
    assert live["data"]["value"] == "edited"
    # No commit holds this content: the object does not claim one.
    assert ANN_SOURCE_COMMIT not in (live["metadata"].get("annotations") or {})


def test_sync_applies_the_committed_ref_not_the_work_tree(tmp_path: Path, namespace: str) -> None:
    app = SyncApp(tmp_path, "ref", namespace)
    app.write("a.yaml", configmap("a", namespace, value="v1"))
    v1 = app.commit("v1")
    app.write("a.yaml", configmap("a", namespace, value="v2"))
    app.commit("v2")
    app.write("a.yaml", configmap("a", namespace, value="uncommitted"))
    ok(app.sync("--ref", v1))  # a committed ref: the dirty work tree does not matter
    live = kubectl_json("get", "configmap", "a", "-n", namespace)
    assert live["data"]["value"] == "v1" and live["metadata"]["annotations"][ANN_SOURCE_COMMIT] == v1


def test_a_commit_on_no_remote_branch_gets_a_warning(tmp_path: Path, namespace: str) -> None:
    remote = GitRepo.create(tmp_path / "remote.git", bare=True)
    app = SyncApp(tmp_path, "push", namespace)
    app.repo.git("remote", "add", "origin", str(remote.path))
    app.write("a.yaml", configmap("a", namespace, value="1"))
    app.commit("pushed")
    app.repo.git("push", "-q", "origin", "HEAD:main")
    pushed = ok(app.sync())
    assert "not on any remote branch" not in pushed.stderr

    app.write("a.yaml", configmap("a", namespace, value="2"))
    local = app.commit("not pushed")
    proc = ok(app.sync())
    assert f"commit {local[:12]} is not on any remote branch" in proc.stderr and "push" in proc.stderr
    run = app.sync_json()
    assert [e["message"] for e in run.of("warning")] == [
        f"commit {local[:12]} is not on any remote branch: did you forget to push?"]


def test_every_applied_object_is_annotated_with_the_source_commit(tmp_path: Path, namespace: str) -> None:
    app = SyncApp(tmp_path, "annotated", namespace)
    app.write("a.yaml", configmap("a", namespace) + "---\n" + deployment("web", namespace, replicas=1))
    first = app.commit("v1")
    ok(app.sync())
    for kind, name in (("configmap", "a"), ("deployment", "web")):
        ann = kubectl_json("get", kind, name, "-n", namespace)["metadata"]["annotations"]
        assert ann[ANN_SOURCE_COMMIT] == first, kind

    app.write("a.yaml", configmap("a", namespace, value="2") + "---\n" + deployment("web", namespace, replicas=1))
    second = app.commit("v2")
    run = app.sync_json()
    assert run.code == 0, run
    # The annotation names the commit that last changed the object: an unchanged object is not written
    # just to move its annotation.
    assert dict(run.applied()) == {f"ConfigMap {namespace}/a": "configured"}
    commits = {kind: kubectl_json("get", kind, name, "-n", namespace)["metadata"]["annotations"][ANN_SOURCE_COMMIT]
               for kind, name in (("configmap", "a"), ("deployment", "web"))}
    assert commits == {"configmap": second, "deployment": first}


# --- validation before any write ------------------------------------------------------------------------

def test_an_object_the_api_server_rejects_fails_the_sync_before_any_write(tmp_path: Path, namespace: str) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "invalid", ns)
    app.write("pre.yaml", job("migrate", ns, argo(hook="PreSync")))
    app.write("early.yaml", configmap("early", ns, argo(wave=-1)))
    app.write("svc.yaml", service("bad-port", ns, port=70000))  # valid YAML, rejected by the API server
    app.write("web.yaml", deployment("web", ns, argo(wave=1)))
    app.commit()

    mark = audit_mark()
    proc = app.sync()
    assert proc.returncode == 3, proc.stderr
    assert f"Service {ns}/bad-port" in proc.stderr and "svc.yaml" in proc.stderr
    assert "nothing was changed" in proc.stderr
    assert writes_in(ns, mark) == []
    for kind, name in (("job", "migrate"), ("configmap", "early"), ("deployment", "web")):
        assert not exists(kind, name, ns), name


# --- dry run ------------------------------------------------------------------------------------------

def test_dry_run_writes_nothing_and_prints_the_plan_with_changes(tmp_path: Path, namespace: str) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "dry", ns)
    app.write("a.yaml", configmap("same", ns) + "---\n" + configmap("changed", ns, value="1"))
    app.commit("v1")
    ok(app.sync())
    app.write("a.yaml", configmap("same", ns) + "---\n" + configmap("changed", ns, value="2"))
    app.write("b.yaml", deployment("new", ns, argo(wave=1)))
    app.write("c.yaml", job("smoke", ns, argo(hook="PostSync")))
    app.commit("v2")

    mark = audit_mark()
    proc = ok(app.sync("--dry-run"))
    assert "nothing was written" in proc.stdout
    rows = {line.split()[3]: line for line in proc.stdout.splitlines() if f"{ns}/" in line}
    assert "update" in rows[f"{ns}/changed"] and "unchanged" in rows[f"{ns}/same"]
    assert "create" in rows[f"{ns}/new"] and "PostSync" in rows[f"{ns}/smoke"]
    assert "CHANGE" in proc.stdout
    assert writes_in(namespace, mark) == []
    assert writes_in(ns, mark, dry_run=True)  # it did ask the server

    doc = json.loads(ok(app.sync("--dry-run", "-o", "json")).stdout.splitlines()[-1])
    assert doc["dryRun"] is True and doc["writes"] == 0
    assert {(s["name"], s["change"]) for s in doc["plan"]} >= {("changed", "update"), ("same", "unchanged"),
                                                               ("new", "create")}
    assert kubectl_json("get", "configmap", "changed", "-n", ns)["data"]["value"] == "1"
    assert not exists("deployment", "new", ns) and not exists("job", "smoke", ns)


# --- field managers ---------------------------------------------------------------------------------------

def test_a_field_manager_conflict_is_refused_naming_the_manager_and_force_conflicts_takes_it(
        tmp_path: Path, namespace: str) -> None:
    app = SyncApp(tmp_path, "conflict", namespace)
    app.write("a.yaml", configmap("settings", namespace, value="from-git"))
    app.write("b.yaml", configmap("other", namespace, value="1"))
    app.commit("v1")
    ok(app.sync())
    # Someone takes the field with their own field manager.
    hand = tmp_path / "hand.yaml"
    hand.write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {namespace}\n"
                    "data:\n  value: by-hand\n")
    kubectl("apply", "--server-side", "--field-manager=platform-team", "--force-conflicts", "-f", str(hand))
    app.write("a.yaml", configmap("settings", namespace, value="from-git-v2"))
    app.write("b.yaml", configmap("other", namespace, value="2"))
    app.commit("v2")

    mark = audit_mark()
    refused = app.sync()
    assert refused.returncode == 6, refused.stderr
    assert "platform-team" in refused.stderr and f"ConfigMap {namespace}/settings" in refused.stderr
    assert ".data.value" in refused.stderr and "--force-conflicts" in refused.stderr
    assert writes_in(namespace, mark) == []  # the other object was not applied either
    assert kubectl_json("get", "configmap", "other", "-n", namespace)["data"]["value"] == "1"

    ok(app.sync("--force-conflicts"))
    live = kubectl_json("get", "configmap", "settings", "-n", namespace, "--show-managed-fields")
    assert live["data"]["value"] == "from-git-v2"
    owners = [m["manager"] for m in live["metadata"]["managedFields"] if "f:data" in (m.get("fieldsV1") or {})]
    assert owners == ["kubectl-gitops"]

