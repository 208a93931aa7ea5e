"""kubectl's spellings against the local control plane (issue 17, item 1): -l selects desired objects and a prune
stays inside the selection; --field-manager names the owner of the applied fields; -o name; a bare --dry-run
before the folder; Go durations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cluster_helpers import kubectl_json
from sync_helpers import SyncApp, exists, ok

pytestmark = pytest.mark.e2e


def labelled(name: str, namespace: str, tier: str, value: str = "1") -> str:
    return (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\n"
            f"  labels:\n    tier: {tier}\ndata:\n  value: \"{value}\"\n")


def test_selector_syncs_and_prunes_only_inside_the_selection(tmp_path: Path, namespace: str) -> None:
    app = SyncApp(tmp_path, "sel", namespace)
    for name, tier in (("a", "web"), ("b", "web"), ("c", "db"), ("d", "web")):
        app.write(f"{name}.yaml", labelled(name, namespace, tier))
    app.commit("four ConfigMaps")
    ok(app.sync())

    # b (web) and c (db) leave Git; d moves out of the selection by its label but stays in Git; a changes
    app.remove("b.yaml").remove("c.yaml")
    app.write("d.yaml", labelled("d", namespace, "db"))
    app.write("a.yaml", labelled("a", namespace, "web", value="2"))
    app.commit("drop b and c, relabel d, change a")

    diff = app.run("diff", "-l", "tier=web", "-o", "name")
    assert diff.returncode == 1, diff.stderr
    assert diff.stdout.splitlines() == ["configmap/a", "configmap/b"]  # b: a pending deletion; not c, not d

    dry = ok(app.prune("-l", "tier=web", "--dry-run", "-o", "name"))
    assert dry.stdout.splitlines() == ["configmap/b"]

    out = ok(app.sync("-l", "tier=web", "--prune", "--yes", "-o", "name"))
    assert out.stdout.splitlines() == ["configmap/a"]  # only the selected objects were applied
    assert not exists("configmap", "b", namespace)
    assert exists("configmap", "c", namespace), "c is outside the selection: never pruned by -l tier=web"
    assert exists("configmap", "d", namespace), "d is still in Git (relabelled): kept"
    live_a = kubectl_json("get", "configmap", "a", "-n", namespace)
    assert live_a["data"]["value"] == "2"
    live_d = kubectl_json("get", "configmap", "d", "-n", namespace)
    assert live_d["metadata"]["labels"]["tier"] == "web", "d was not applied: it is outside -l tier=web"


def test_selector_matching_nothing_refuses_to_prune_everything(tmp_path: Path, namespace: str) -> None:
    app = SyncApp(tmp_path, "selnone", namespace)
    app.write("a.yaml", labelled("a", namespace, "web"))
    app.commit("one")
    ok(app.sync())
    out = app.prune("-l", "tier=nothing-has-this", "--yes")
    assert out.returncode == 0, out.stderr  # the member does not match: outside the selection, nothing to do
    assert exists("configmap", "a", namespace)


def test_field_manager_owns_the_applied_fields(tmp_path: Path, namespace: str) -> None:
    app = SyncApp(tmp_path, "fm", namespace)
    app.write("a.yaml", labelled("a", namespace, "web"))
    app.commit("one")
    ok(app.sync("--field-manager", "ci-bot"))
    live = kubectl_json("get", "configmap", "a", "-n", namespace, "--show-managed-fields")
    managers = {(m["manager"], m["operation"]) for m in live["metadata"]["managedFields"]}
    assert ("ci-bot", "Apply") in managers, managers
    assert not any(m == "kubectl-gitops" for m, _ in managers), managers
    same = app.run("diff", "--field-manager", "ci-bot")
    assert same.returncode == 0, same.stdout + same.stderr


def test_bare_dry_run_before_the_folder_and_go_durations(tmp_path: Path, namespace: str) -> None:
    app = SyncApp(tmp_path, "dry", namespace)
    app.write("deploy/a.yaml", labelled("a", namespace, "web"))
    app.commit("one")
    out = ok(app.sync("--dry-run", "deploy", "--wave-timeout", "1m30s", "--request-timeout", "30s"))
    assert "nothing was written" in out.stdout
    assert not exists("configmap", "a", namespace)
    server = ok(app.sync("--dry-run=server", "-f", "deploy", "-o", "yaml"))
    assert "dryRunMode: server" in server.stdout
    assert not exists("configmap", "a", namespace)
    ok(app.sync("-f", "deploy", "--wave-timeout", "1m30s"))
    assert exists("configmap", "a", namespace)
    history = app.history()
    assert len(history) == 1


def test_sync_yaml_and_wide(tmp_path: Path, namespace: str) -> None:
    app = SyncApp(tmp_path, "wide", namespace)
    app.write("a.yaml", labelled("a", namespace, "web"))
    app.commit("one")
    wide = ok(app.sync("-o", "wide"))
    assert "SOURCE" in wide.stdout and "a.yaml:1" in wide.stdout
    app.write("a.yaml", labelled("a", namespace, "web", value="3"))
    app.commit("two")
    import yaml

    doc = yaml.safe_load(ok(app.sync("-o", "yaml")).stdout)
    assert doc["ok"] is True and doc["dryRun"] is False
    assert [(s["name"], s["action"]) for s in doc["steps"]] == [("a", "configured")]
    assert json.dumps(doc)  # plain data
