"""An app spread over many namespaces (its types read with one cluster-wide LIST by its label, ``cluster.live``):
diff still shows every deletion, also in a namespace left with nothing in Git, and a prune deletes exactly those:
an object carrying the app's label in a namespace the app never wrote to is not among them."""

from __future__ import annotations

import json

import pytest
from cluster_helpers import kubectl, kubectl_json
from sync_helpers import SyncApp, configmap, exists, ok

pytestmark = pytest.mark.e2e


def test_deletions_of_an_app_in_six_namespaces_are_shown_and_pruned(tmp_path, namespace):
    spaces = [namespace] + [f"{namespace}-m{i}" for i in range(5)]
    outsider = f"{namespace}-out"
    for ns in [*spaces[1:], outsider]:
        kubectl("create", "namespace", ns)
    try:
        app = SyncApp(tmp_path, "spread", namespace)
        for ns in spaces:
            for i in range(4):
                app.write(f"{ns}/cm{i}.yaml", configmap(f"cm{i}", ns))
        app.commit()
        ok(app.sync())
        assert ok(app.run("diff")).returncode == 0
        # someone copies the app's labels onto an object in a namespace the app never wrote to
        labels = kubectl_json("get", "configmap", "cm0", "-n", namespace)["metadata"]["labels"]
        planted = {"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "planted", "namespace": outsider, "labels": labels}}
        kubectl("apply", "-f", "-", input=json.dumps(planted))

        app.remove(f"{spaces[1]}/cm0.yaml")
        for i in range(4):
            app.remove(f"{spaces[5]}/cm{i}.yaml")  # nothing of the app left in Git for this namespace
        app.write(f"{spaces[2]}/cm1.yaml", configmap("cm1", spaces[2], value="2"))
        app.commit()
        proc = app.run("diff", "-o", "patch")
        assert proc.returncode == 1, proc.stderr
        ops = {(o["namespace"], o["name"]): o["op"] for o in json.loads(proc.stdout)["objects"]}
        gone = {(spaces[1], "cm0")} | {(spaces[5], f"cm{i}") for i in range(4)}
        assert ops == {**{k: "delete" for k in gone}, (spaces[2], "cm1"): "update"}

        report = json.loads(ok(app.prune("--yes", "-o", "json")).stdout)["prune"]
        assert report["lists"] == 1 and len(report["deleted"]) == len(gone)  # one LIST for six namespaces
        assert [k for k in gone if exists("configmap", k[1], k[0])] == []
        assert exists("configmap", "planted", outsider)  # labelled as ours, but outside the app's namespaces
        ok(app.sync())
        assert exists("configmap", "cm1", spaces[1]) and exists("configmap", "cm2", spaces[3])
        assert ok(app.run("diff")).returncode == 0
    finally:
        for ns in [*spaces[1:], outsider]:
            kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found")
