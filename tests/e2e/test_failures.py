"""Every failure is recorded, and the record never narrows (issue 12, items 6 and 7), on the local control plane
with the fault proxy (tests/faults/proxy.py):

- an 8 s outage of the API server starting at wave 2 of a sync: the sync rides it out, or exits 5 with the run
  recorded as failed with what was applied; a clean sync then converges;
- a sync whose wave-2 applies never get an answer: exit 5, the message says what was applied, the history shows
  the run as failed with its counts, the next sync converges;
- `sync --prune X` racing `sync Y` (Y adds a namespace): X's record write, made from its stale view, is merged
  with Y's record, so Y's namespace stays in the scope (the interleaving is made deterministic: X's steps are run
  in-process around Y's CLI run);
- a reset after the record write landed: the history entry is not appended twice.
"""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cluster_helpers import Cluster, kubectl, kubectl_json
from faults.proxy import FaultProxy, Faults
from sync_helpers import SyncApp, argo, configmap, ok

pytestmark = pytest.mark.e2e


def two_waves(app: SyncApp, ns: str, *, value: str = "1") -> None:
    app.write("early.yaml", "---\n".join(configmap(f"early-{i}", ns, argo(wave=0), value=value) for i in range(3)))
    app.write("late.yaml", "---\n".join(configmap(f"late-{i}", ns, argo(wave=1), value=value) for i in range(3)))


def history(app: SyncApp) -> list[dict[str, Any]]:
    return app.history()


def break_applies(proxy: FaultProxy, path: str) -> None:
    """From the first real (not dry-run) apply on, every PATCH of ``path`` is reset before it reaches the server
    (sent again by the client until it gives up): the dry runs before it pass."""
    def switch(method: str, target: str) -> None:
        if method == "PATCH" and "dryRun" not in target and "/configmaps/" in target:
            proxy.set_faults(Faults(rates={"reset-before": 1.0}, methods=frozenset({"PATCH"}), path_contains=path))
            proxy.on_request = None

    proxy.on_request = switch


def _one_line(stderr: str) -> bool:
    """One error line (after the progress lines), no traceback."""
    return "Traceback" not in stderr and len([x for x in stderr.splitlines() if x.startswith("error:")]) == 1


def test_an_outage_at_wave_two_is_ridden_out_or_recorded_as_failed(
        tmp_path: Path, namespace: str, cluster: Cluster) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "outage", ns)
    two_waves(app, ns)
    app.commit("first")
    ok(app.sync())
    two_waves(app, ns, value="2")
    commit = app.commit("second")
    started = threading.Event()
    with FaultProxy.start(cluster.kubeconfig, Faults(), tmp_path / "proxy") as p:
        def at_wave_two(method: str, target: str) -> None:
            if method == "PATCH" and "/configmaps/late-" in target and not started.is_set():
                started.set()
                p.outage(8)

        p.on_request = at_wave_two
        proc = app.run("sync", "--wave-timeout", "60s", env={"KUBECONFIG": str(p.kubeconfig)})
        outage_answers = p.count("outage")
    assert started.is_set() and outage_answers > 0
    print(f"outage: exit {proc.returncode}, {outage_answers} answers 503")
    last = history(app)[-1]
    assert last["commit"] == commit
    if proc.returncode == 0:
        assert last["result"] == "succeeded"
    else:
        assert proc.returncode == 5, proc.stderr
        assert _one_line(proc.stderr), proc.stderr
        assert last["result"] == "failed", last
        assert last["counts"].get("configured", 0) >= 3, last  # wave 1 was applied
        assert "were applied before the failure" in proc.stderr
    ok(app.sync())
    assert app.run("diff").returncode == 0


def test_a_sync_stopped_by_cluster_errors_in_wave_two_is_recorded_as_failed_with_what_was_applied(
        tmp_path: Path, namespace: str, cluster: Cluster) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "stopped", ns)
    two_waves(app, ns)
    commit = app.commit()
    with FaultProxy.start(cluster.kubeconfig, Faults(), tmp_path / "proxy") as p:
        break_applies(p, "/configmaps/late-")
        proc = app.run("sync", env={"KUBECONFIG": str(p.kubeconfig)})
    assert proc.returncode == 5, proc.stderr
    assert _one_line(proc.stderr), proc.stderr
    assert "3 object(s) were applied before the failure, in Sync wave 1" in proc.stderr
    assert "recorded as failed in the history" in proc.stderr
    entries = history(app)
    last = entries[-1]
    assert (last["result"], last["commit"], last["counts"].get("created")) == ("failed", commit, 3), last
    assert "Sync wave 1" in last["message"] and last.get("run")
    # the next sync continues from there
    ok(app.sync())
    assert history(app)[-1]["result"] == "succeeded"
    assert app.run("diff").returncode == 0


def test_a_nothing_written_failure_says_so(tmp_path: Path, namespace: str, cluster: Cluster) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "nothing", ns)
    app.write("a.yaml", configmap("only", ns))
    app.commit()
    with FaultProxy.start(cluster.kubeconfig, Faults(), tmp_path / "proxy") as p:
        break_applies(p, "/configmaps/only")
        proc = app.run("sync", env={"KUBECONFIG": str(p.kubeconfig)})
    assert proc.returncode == 5 and "nothing was written" in proc.stderr, proc.stderr
    assert history(app)[-1]["result"] == "failed"


def test_a_prune_racing_a_sync_that_adds_a_namespace_keeps_it_in_the_scope(
        tmp_path: Path, namespace: str, cluster: Cluster) -> None:
    """`sync --prune X` ‖ `sync Y` (issue 12: 3 of 4 pairs lost Y's namespace). X reads the record and lists the
    members, Y syncs (widening the scope to its new namespace), X deletes and writes from its old view: the
    write meets a 409, is merged with Y's record, and Y's namespace stays."""
    from kubectl_gitops.cluster.client import Cluster as Api
    from kubectl_gitops.engine.inventory import ANN_ADDITIONAL_NAMESPACES, AppRef, read_record
    from kubectl_gitops.engine.prune import PruneOptions
    from kubectl_gitops.engine.prune_plan import approve, preview_prune, prune_approved
    from kubectl_gitops.engine.run_record import record_prune
    from kubectl_gitops.model import ResourceKey
    from kubectl_gitops.settings import ClusterOptions

    ns = namespace
    other = f"race-y-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", other)
    try:
        app = SyncApp(tmp_path, "race", ns)
        app.write("x.yaml", configmap("keep", ns) + "---\n" + configmap("old", ns))
        app.commit("x0")
        ok(app.sync())

        api = Api.connect(ClusterOptions(kubeconfig=cluster.kubeconfig))
        ref = AppRef(app.name, ns)
        # X (a prune of a commit without "old"): reads the record, lists the members, approves
        base = read_record(api, ref)
        desired = {ResourceKey("", "ConfigMap", ns, "keep")}
        report, listing = preview_prune(api, ref, base, desired, PruneOptions())
        approve(report, None)
        assert [c.key.name for c in report.approved] == ["old"]
        # Y: a sync that adds five ConfigMaps in another namespace, between X's read and X's write
        app.write("y.yaml", "---\n".join(configmap(f"y-{i}", other) for i in range(5)))
        app.commit("y")
        ok(app.sync())
        # X: deletes, then writes the record from its view (the record's resourceVersion is stale now)
        prune_approved(api, report, listing, PruneOptions(), lambda e: None)
        checkout = SimpleNamespace(commit="x" * 40, ref=None, path=".")
        record_prune(api, base, report, listing, checkout, desired, 0.1)  # type: ignore[arg-type]
        api.close()

        secret = kubectl_json("get", "secret", f"kubectl-gitops.{app.name}", "-n", ns)
        assert other in secret["metadata"]["annotations"][ANN_ADDITIONAL_NAMESPACES].split(",")
        assert [h["operation"] for h in history(app)][-3:] == ["sync", "sync", "prune"]
        # Y's objects stay within prune's reach: a commit without them shows them as deletions
        app.remove("y.yaml")
        app.commit("without y")
        diff = app.run("diff", "-o", "json")
        assert diff.returncode == 1, diff.stderr
        deleted = {c["name"] for c in json.loads(diff.stdout)["changes"] if c["op"] == "delete"}
        assert {f"y-{i}" for i in range(5)} <= deleted, deleted
    finally:
        kubectl("delete", "namespace", other, "--wait=false", "--ignore-not-found")


def test_a_reset_after_the_record_write_landed_does_not_append_the_entry_twice(
        tmp_path: Path, namespace: str, cluster: Cluster) -> None:
    ns = namespace
    app = SyncApp(tmp_path, "once", ns)
    app.write("a.yaml", configmap("settings", ns))
    app.commit("first")
    ok(app.sync())
    app.write("a.yaml", configmap("settings", ns, value="2"))
    commit = app.commit("second")
    # the record write (server-side apply of the Secret) lands, then the connection is reset: it is sent again
    faults = Faults(rates={"reset-after": 1.0}, methods=frozenset({"PATCH"}),
                    path_contains=f"/secrets/kubectl-gitops.{app.name}", limit=1)
    with FaultProxy.start(cluster.kubeconfig, faults, tmp_path / "proxy") as p:
        proc = app.run("sync", env={"KUBECONFIG": str(p.kubeconfig)})
        assert p.count("reset-after", "PATCH") == 1
    ok(proc)
    entries = history(app)
    assert [e["commit"] for e in entries].count(commit) == 1, entries
    assert len(entries) == 2 and len({e["run"] for e in entries}) == 2
