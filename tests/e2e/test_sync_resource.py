"""`sync --resource GROUP:KIND:[NAMESPACE/]NAME` against the local control plane (issue 17, item 3): Argo CD's
partial sync applies only the named objects, runs hooks only with --with-hooks, and never prunes outside them."""

from __future__ import annotations

from pathlib import Path

import pytest
from cluster_helpers import kubectl_json
from sync_helpers import SyncApp, argo, configmap, exists, job, ok

pytestmark = pytest.mark.e2e


def value(name: str, namespace: str) -> str:
    return str(kubectl_json("get", "configmap", name, "-n", namespace)["data"]["value"])


def uid(kind: str, name: str, namespace: str) -> str:
    return str(kubectl_json("get", kind, name, "-n", namespace)["metadata"]["uid"])


def test_partial_sync_applies_only_the_named_objects(tmp_path: Path, namespace: str) -> None:
    app = SyncApp(tmp_path, "part", namespace)
    for name in ("a", "b", "c"):
        app.write(f"{name}.yaml", configmap(name, namespace))
    app.write("hook.yaml", job("migrate", namespace, argo(hook="PreSync")))
    app.commit("three and a hook")
    ok(app.sync())
    hook_uid = uid("job", "migrate", namespace)

    for name in ("a", "b"):
        app.write(f"{name}.yaml", configmap(name, namespace, value="2"))
    app.remove("c.yaml")
    app.commit("change a and b, drop c")

    out = ok(app.sync("--resource", ":ConfigMap:a", "-o", "name"))
    assert out.stdout.splitlines() == ["configmap/a"]
    assert value("a", namespace) == "2" and value("b", namespace) == "1"
    assert uid("job", "migrate", namespace) == hook_uid, "hooks do not run without --with-hooks"

    out = ok(app.sync("--resource", f":configmap:{namespace}/b", "--with-hooks", "-o", "name"))
    assert set(out.stdout.splitlines()) == {"configmap/b", "job.batch/migrate"}
    assert value("b", namespace) == "2"
    assert uid("job", "migrate", namespace) != hook_uid, "--with-hooks ran the PreSync hook again"

    # c left Git: a partial sync without --prune cannot act on it, and says so
    missing = app.sync("--resource", ":ConfigMap:c")
    assert missing.returncode == 3, missing.stderr
    assert "--resource :ConfigMap:c matches no object" in missing.stderr and "--prune" in missing.stderr
    # with --prune only c can be pruned; a ConfigMap pruned by a full prune would be the same, b stays
    app.write("d.yaml", configmap("d", namespace))
    app.commit("add d")
    ok(app.sync("--resource", ":ConfigMap:d"))
    app.remove("d.yaml")
    app.commit("drop d again")
    out = ok(app.sync("--resource", ":ConfigMap:c", "--prune", "--yes"))
    assert not exists("configmap", "c", namespace)
    assert exists("configmap", "d", namespace), "d left Git too, but it was not named: never pruned"
    assert exists("configmap", "a", namespace) and exists("configmap", "b", namespace)


def test_bad_resource_is_a_usage_error(tmp_path: Path, namespace: str) -> None:
    app = SyncApp(tmp_path, "badres", namespace)
    app.write("a.yaml", configmap("a", namespace))
    app.commit("a")
    res = app.sync("--resource", "Deployment/web")
    assert res.returncode == 2
    assert "GROUP:KIND:[NAMESPACE/]NAME" in res.stderr
    assert not exists("configmap", "a", namespace)
