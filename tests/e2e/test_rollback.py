"""`kubectl gitops rollback REVISION|COMMIT` against the local control plane (issue 17, item 2): a revision's
commit and path are synced again, with sync's guards; prunes and dirty revisions are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from cluster_helpers import kubectl_json
from sync_helpers import SyncApp, configmap, ok

pytestmark = pytest.mark.e2e


def value(name: str, namespace: str) -> str:
    return str(kubectl_json("get", "configmap", name, "-n", namespace)["data"]["value"])


def test_rollback_to_a_revision_and_to_a_commit(tmp_path: Path, namespace: str) -> None:
    app = SyncApp(tmp_path, "rb", namespace)
    app.write("deploy/a.yaml", configmap("a", namespace, value="1"))
    first = app.commit("v1")
    ok(app.sync("deploy"))
    app.write("deploy/a.yaml", configmap("a", namespace, value="2"))
    app.commit("v2")
    ok(app.sync("deploy"))
    assert value("a", namespace) == "2"
    assert [h["revision"] for h in app.history()] == [1, 2]

    # the path comes from the revision: no PATH given here
    dry = ok(app.run("rollback", "1", "--dry-run"))
    assert "rolling back app rb to revision 1: commit " + first[:12] in dry.stderr
    assert "nothing was written" in dry.stdout
    assert value("a", namespace) == "2"

    out = ok(app.run("rollback", "1", "-o", "name"))
    assert out.stdout.splitlines() == ["configmap/a"]
    assert value("a", namespace) == "1"
    history = app.history()
    assert history[-1]["commit"] == first and history[-1]["path"] == "deploy"

    ok(app.run("rollback", "2"))
    assert value("a", namespace) == "2"
    ok(app.run("rollback", first[:10], "--path", "deploy"))  # a commit prefix a sync recorded
    assert value("a", namespace) == "1"


def test_rollback_refusals(tmp_path: Path, namespace: str) -> None:
    app = SyncApp(tmp_path, "rbno", namespace)
    app.write("a.yaml", configmap("a", namespace))
    app.write("b.yaml", configmap("b", namespace))
    app.commit("two")
    ok(app.sync())
    app.remove("b.yaml")
    app.commit("one")
    ok(app.prune("--yes"))  # revision 2 is a prune
    app.write("a.yaml", configmap("a", namespace, value="dirty"))
    ok(app.sync("--allow-dirty"))  # revision 3 applied uncommitted changes

    unknown = app.run("rollback", "42")
    assert unknown.returncode == 3, unknown.stderr
    assert "revision 42 is not in the history of app rbno (revisions kept: 1..3)" in unknown.stderr
    prune = app.run("rollback", "2")
    assert prune.returncode == 6 and "is a prune, not a sync" in prune.stderr
    dirty = app.run("rollback", "3")
    assert dirty.returncode == 6 and "applied uncommitted changes" in dirty.stderr
    assert value("a", namespace) == "dirty"
    never = SyncApp(tmp_path, "rbnever", namespace)
    never.write("a.yaml", configmap("z", namespace))
    never.commit("x")
    none = never.run("rollback", "1")
    assert none.returncode == 3 and "nothing to roll back" in none.stderr
    usage = app.run("rollback")
    assert usage.returncode == 2
