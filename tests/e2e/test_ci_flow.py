"""The CI deploy stage as a pipeline runs it, on the local control plane: `diff -o patch` applied to the live
objects gives what a sync writes; `image set` + commit + push, `sync`, `promote` to prod."""

from __future__ import annotations

import copy
import json

import jsonpatch
import pytest
from cluster_helpers import kubectl_json
from sync_helpers import SyncApp, configmap, deployment, ok

from kubectl_gitops.engine.diff.normalize import normalize

pytestmark = pytest.mark.e2e


def live(kind: str, name: str, namespace: str) -> dict:
    obj: dict = kubectl_json("get", kind, name, "-n", namespace)
    return obj


def written(obj: dict) -> dict:
    """What a sync writes: normalised, without what the Deployment controller changes after the write."""
    out = normalize(obj)
    out["metadata"].get("annotations", {}).pop("deployment.kubernetes.io/revision", None)
    return out


def test_diff_patch_applied_to_live_objects_gives_what_sync_writes(tmp_path, namespace):
    app = SyncApp(tmp_path, "patchapp", namespace)
    app.write("web.yaml", deployment("web", namespace, replicas=2, image="example.com/web:1"))
    app.write("cm.yaml", configmap("settings", namespace, value="1"))
    app.write("old.yaml", configmap("old", namespace))
    app.commit()
    ok(app.sync())
    app.write("web.yaml", deployment("web", namespace, {"team": "shop"}, replicas=3, image="example.com/web:2"))
    app.write("cm.yaml", configmap("settings", namespace, value="2"))
    app.write("new.yaml", configmap("new", namespace))
    app.remove("old.yaml")
    app.commit()

    proc = app.run("diff", "-o", "patch", "--image", "example.com/web:3")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    by = {(o["kind"], o["name"]): o for o in doc["objects"]}
    assert doc["schemaVersion"] == 1 and set(by) == {("Deployment", "web"), ("ConfigMap", "settings"),
                                                     ("ConfigMap", "new"), ("ConfigMap", "old")}
    assert by[("ConfigMap", "old")]["op"] == "delete" and by[("ConfigMap", "old")]["patch"] is None
    before = {k: live(k[0].lower(), k[1], namespace) for k in [("Deployment", "web"), ("ConfigMap", "settings")]}
    patched = {k: jsonpatch.apply_patch(copy.deepcopy(obj), by[k]["patch"]) for k, obj in before.items()}
    created = jsonpatch.apply_patch({}, by[("ConfigMap", "new")]["patch"])

    ok(app.sync("--image", "example.com/web:3", "--prune", "--yes"))
    for k, obj in patched.items():
        assert written(obj) == written(live(k[0].lower(), k[1], namespace)), k
    assert written(created) == written(live("configmap", "new", namespace))
    assert patched[("Deployment", "web")]["spec"]["template"]["spec"]["containers"][0]["image"] == "example.com/web:3"
