"""diff -o patch: RFC 6902 per object, made by jsonpatch from the masked sides."""

from __future__ import annotations

import copy

import jsonpatch

from kubectl_gitops.cli.diff_patch import to_patch
from kubectl_gitops.engine.diff.change import classify, deletion
from kubectl_gitops.model import Manifest, Origin


def deployment(replicas: int, image: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "demo",
                                                                       "resourceVersion": "7"},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}


def test_update_patch_applied_to_live_gives_the_merged_object():
    live = deployment(2, "web:1")
    merged = deployment(3, "web:2")
    change = classify(Manifest(deployment(3, "web:2"), Origin("web.yaml", 1)), live, merged)
    doc = to_patch([change], "abc", False)
    [obj] = doc["objects"]
    assert (obj["op"], obj["kind"], obj["namespace"], obj["name"], obj["source"]) == (
        "update", "Deployment", "demo", "web", "web.yaml:1")
    assert {"op": "replace", "path": "/spec/replicas", "value": 3} in obj["patch"]
    assert jsonpatch.apply_patch(copy.deepcopy(live), obj["patch"]) == merged  # resourceVersion untouched


def test_create_is_a_patch_from_empty_and_delete_has_none():
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d"}, "data": {"a": "1"}}
    created = classify(Manifest(cm), None, cm)
    gone = deletion(created.key, cm)
    objs = to_patch([created, gone], None, True)["objects"]
    assert jsonpatch.apply_patch({}, objs[0]["patch"]) == cm
    assert objs[1]["op"] == "delete" and objs[1]["patch"] is None


def test_secret_values_are_masked_in_the_patch():
    def secret(value: str) -> dict:
        return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "d"},
                "data": {"password": value}}

    change = classify(Manifest(secret("bmV3LXZhbHVl")), secret("b2xkLXZhbHVl"), secret("bmV3LXZhbHVl"))
    text = str(to_patch([change], None, False))
    assert "bmV3LXZhbHVl" not in text and "b2xkLXZhbHVl" not in text
    [op] = to_patch([change], None, False)["objects"][0]["patch"]
    assert op == {"op": "replace", "path": "/data/password", "value": "*** (after)"}
