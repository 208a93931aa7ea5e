"""Prune acts only within the selection (issue 11, item 9): `prune` and `sync --prune` with `--include` /
`--exclude` consider only members whose source file (recorded per member in the app's record by sync) the
selection covers, refuse when a member cannot be attributed, and keep an object that moved to a file outside
the selection. Run as a user does, against the local control plane.

Each app is three files: a.yaml (ConfigMaps a, a2), b.yaml (b, b2), c.yaml (c, c2), synced in full first.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cluster_helpers import kubectl, kubectl_json
from source_helpers import configmap
from sync_helpers import SyncApp, exists, ok

pytestmark = pytest.mark.e2e

NAMES = ("a", "a2", "b", "b2", "c", "c2")


def three_files(tmp_path: Path, name: str, namespace: str) -> SyncApp:
    app = SyncApp(tmp_path, name, namespace)
    for f in ("a", "b", "c"):
        app.write(f"{f}.yaml", configmap(f, namespace=namespace) + "---\n" + configmap(f"{f}2", namespace=namespace))
    app.commit("three files, two ConfigMaps each")
    ok(app.sync())
    return app


def drop_second(app: SyncApp, *files: str) -> None:
    """Remove the second ConfigMap (x2) from each of ``files`` and commit."""
    for f in files:
        app.write(f"{f}.yaml", configmap(f, namespace=app.namespace))
    app.commit("drop " + ", ".join(f"{f}2" for f in files))


def present(namespace: str) -> set[str]:
    return {n for n in NAMES if exists("configmap", n, namespace)}


def record(app: SyncApp) -> dict[str, Any]:
    secret: dict[str, Any] = kubectl_json("get", "secret", f"kubectl-gitops.{app.name}", "-n", app.namespace)
    return secret


def recorded_sources(app: SyncApp) -> dict[str, str]:
    """name -> recorded source of each member, from the record's data.sources."""
    raw = record(app).get("data", {}).get("sources")
    if not raw:
        return {}
    doc = json.loads(base64.b64decode(raw))
    return {k[3]: src for src, keys in doc.items() for k in keys}


def test_the_full_sync_records_each_members_source(tmp_path: Path, namespace: str) -> None:
    app = three_files(tmp_path, "rec", namespace)
    assert recorded_sources(app) == {"a": "file:a.yaml", "a2": "file:a.yaml", "b": "file:b.yaml",
                                     "b2": "file:b.yaml", "c": "file:c.yaml", "c2": "file:c.yaml"}


def test_prune_include_deletes_nothing_when_nothing_was_removed(tmp_path: Path, namespace: str) -> None:
    app = three_files(tmp_path, "nothing", namespace)
    dry = ok(app.prune("--include", "a.yaml", "--dry-run"))
    assert "0 object(s) of app nothing would be deleted" in dry.stdout, dry.stdout
    assert "4 member(s) of app nothing not rendered from the selected files" in dry.stderr, dry.stderr
    out = ok(app.prune("--include", "a.yaml", "--yes"))  # before: deleted b, b2, c and c2
    assert "nothing to prune" in out.stdout
    assert present(namespace) == set(NAMES)
    diff = app.run("diff", "--include", "a.yaml", "-o", "json")
    assert diff.returncode == 0, diff.stdout + diff.stderr  # no deletions shown outside the selection
    assert [c["op"] for c in json.loads(diff.stdout)["changes"] if c["op"] != "unchanged"] == []


def test_prune_include_prunes_what_left_the_selected_file_only(tmp_path: Path, namespace: str) -> None:
    app = three_files(tmp_path, "inc", namespace)
    drop_second(app, "a", "b")  # a2 left a.yaml (selected), b2 left b.yaml (not selected)
    dry = ok(app.prune("--include", "a.yaml", "--dry-run"))
    assert "would delete" in dry.stdout and f"{namespace}/a2" in dry.stdout
    assert f"{namespace}/b2" not in dry.stdout
    out = ok(app.prune("--include", "a.yaml", "--yes"))
    assert "pruned 1 object(s)" in out.stdout, out.stdout
    assert present(namespace) == {"a", "b", "b2", "c", "c2"}
    # The record still knows b2 (and b, c, c2): a full prune finds and deletes b2.
    assert set(recorded_sources(app)) == {"a", "b", "b2", "c", "c2"}
    ok(app.prune("--yes"))
    assert present(namespace) == {"a", "b", "c", "c2"}


def test_sync_include_prune_prunes_what_left_the_selected_file_only(tmp_path: Path, namespace: str) -> None:
    app = three_files(tmp_path, "syncinc", namespace)
    nothing = ok(app.sync("--include", "a.yaml", "--prune", "--yes"))  # before: deleted b, b2, c and c2
    assert present(namespace) == set(NAMES), nothing.stdout
    drop_second(app, "a", "b")
    dry = ok(app.sync("--include", "a.yaml", "--prune", "--dry-run"))
    assert f"{namespace}/a2" in dry.stdout and f"{namespace}/b2" not in dry.stdout
    assert present(namespace) == set(NAMES)
    ok(app.sync("--include", "a.yaml", "--prune", "--yes"))
    assert present(namespace) == {"a", "b", "b2", "c", "c2"}
    rec = record(app)["metadata"]["annotations"]
    assert rec["applyset.kubernetes.io/contains-group-kinds"] == "ConfigMap"
    assert set(recorded_sources(app)) == {"a", "b", "b2", "c", "c2"}  # members outside the selection stay
    ok(app.sync("--prune", "--yes"))  # and a full sync --prune still finds b2
    assert present(namespace) == {"a", "b", "c", "c2"}


def test_a_sync_with_include_keeps_the_other_members_in_the_record(tmp_path: Path, namespace: str) -> None:
    app = three_files(tmp_path, "keeprec", namespace)
    app.write("a.yaml", configmap("a", namespace=namespace, value="2") + "---\n"
              + configmap("a2", namespace=namespace)).commit("change a")
    ok(app.sync("--include", "a.yaml"))
    assert set(recorded_sources(app)) == set(NAMES)
    dry = ok(app.prune("--dry-run"))  # the full repository still has all six: nothing to delete
    assert "0 object(s) of app keeprec would be deleted" in dry.stdout, dry.stdout
    drop_second(app, "c")
    ok(app.prune("--yes"))
    assert present(namespace) == {"a", "a2", "b", "b2", "c"}


def test_exclude(tmp_path: Path, namespace: str) -> None:
    app = three_files(tmp_path, "exc", namespace)
    drop_second(app, "b", "c")
    ok(app.prune("--exclude", "b.yaml", "--yes"))
    assert present(namespace) == {"a", "a2", "b", "b2", "c"}
    ok(app.sync("--exclude", "c.yaml", "--prune", "--yes"))
    assert present(namespace) == {"a", "a2", "b", "c"}


def test_members_without_a_recorded_source_refuse_a_limited_prune(tmp_path: Path, namespace: str) -> None:
    app = three_files(tmp_path, "old", namespace)
    # A record written by an older version: no data.sources.
    kubectl("patch", "secret", f"kubectl-gitops.{app.name}", "-n", namespace, "--type=json",
            "-p", '[{"op": "remove", "path": "/data/sources"}]')
    drop_second(app, "a")
    for cmd in (["prune", "--include", "a.yaml", "--yes"], ["sync", "--include", "a.yaml", "--prune", "--yes"]):
        refused = app.run(*cmd)
        assert refused.returncode == 6, refused.stdout + refused.stderr
        assert "5 member(s) of app old" in refused.stderr and "no recorded source file" in refused.stderr
        assert "without --include/--exclude" in refused.stderr and "Traceback" not in refused.stderr
        assert present(namespace) == set(NAMES)
    ok(app.sync())  # records the sources of the five objects in Git; a2 left Git before it was attributed
    still = app.prune("--include", "a.yaml", "--yes")
    assert still.returncode == 6 and "1 member(s) of app old" in still.stderr, still.stderr
    ok(app.prune("--yes"))  # the full prune the hint names
    assert present(namespace) == {"a", "b", "b2", "c", "c2"}
    drop_second(app, "b")
    ok(app.prune("--include", "b.yaml", "--yes"))  # from now on limited prunes work
    assert present(namespace) == {"a", "b", "c", "c2"}


def test_an_object_moved_outside_the_selection_is_kept(tmp_path: Path, namespace: str) -> None:
    app = three_files(tmp_path, "moved", namespace)
    app.write("b.yaml", configmap("b", namespace=namespace))
    app.write("c.yaml", configmap("c", namespace=namespace) + "---\n" + configmap("c2", namespace=namespace)
              + "---\n" + configmap("b2", namespace=namespace))
    app.commit("move b2 to c.yaml")
    for cmd in (["prune", "--include", "b.yaml", "--yes"], ["sync", "--include", "b.yaml", "--prune", "--yes"]):
        out = ok(app.run(*cmd))
        assert "still in Git (c.yaml" in out.stdout, out.stdout
        assert present(namespace) == set(NAMES)
    ok(app.sync())
    assert recorded_sources(app)["b2"] == "file:c.yaml"
