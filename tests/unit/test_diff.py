"""The diff engine on plain data: normalisation, ignore rules, masking, the dry-run fast path, drift.

Live fixtures (testdata/diff/*-live*.yaml) are written by hand from the managedFields format the API
server records; cases captured from the real control plane go next to them.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubectl_gitops import FIELD_MANAGER
from kubectl_gitops.engine.diff import (
    MASK,
    MASK_AFTER,
    MASK_BEFORE,
    Change,
    Drift,
    IgnoreRule,
    Op,
    classify,
    deletion,
    drift,
    load_ignore_rules,
    mask_secrets,
    may_differ,
    normalize,
    respect_ignore_rules,
    strip_managed_by,
)
from kubectl_gitops.errors import ExitCode, InvalidInputError
from kubectl_gitops.model import ANN_LAST_APPLIED, ANN_SOURCE_COMMIT, Manifest, Origin, ResourceKey

DATA = Path(__file__).parent / "testdata" / "diff"
CANARY = "CANARY-d1ff-5ecret"
OLD_CANARY = "CANARY-0ld-5ecret"

Obj = dict[str, Any]


def load(name: str) -> Obj:
    return yaml.safe_load((DATA / f"{name}.yaml").read_text())


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def edited(obj: Obj, *edits: Callable[[Obj], Any]) -> Obj:
    out = copy.deepcopy(obj)
    for e in edits:
        e(out)
    return out


def container(obj: Obj) -> Obj:
    return obj["spec"]["template"]["spec"]["containers"][0]


def our_fields(obj: Obj) -> Obj:
    entry = next(e for e in obj["metadata"]["managedFields"] if e["manager"] == FIELD_MANAGER)
    return entry["fieldsV1"]


def leaks(text: str) -> bool:
    return any(s in text for s in (CANARY, OLD_CANARY, b64(CANARY), b64(OLD_CANARY)))


# --- normalize ------------------------------------------------------------------------------------

def test_normalize_drops_what_the_server_maintains_and_our_commit_annotation() -> None:
    live = load("deployment-live")
    out = normalize(live)
    meta = out["metadata"]
    for gone in ("managedFields", "resourceVersion", "uid", "generation", "creationTimestamp"):
        assert gone not in meta
    assert "status" not in out
    assert meta["annotations"] == {"deployment.kubernetes.io/revision": "1"}
    assert meta["labels"] == {"app": "web"}
    assert out["spec"]["replicas"] == 3
    assert "managedFields" in live["metadata"] and "status" in live  # the input is not touched


@pytest.mark.parametrize("metadata, expected", [
    ({"name": "a", "annotations": {ANN_SOURCE_COMMIT: "abc"}}, {"name": "a"}),
    ({"name": "a", "annotations": {}, "labels": {}}, {"name": "a"}),
    ({"name": "a", "annotations": {ANN_LAST_APPLIED: "{}"}}, {"name": "a", "annotations": {ANN_LAST_APPLIED: "{}"}}),
    ({"name": "a", "selfLink": "/api/v1/x", "deletionGracePeriodSeconds": 30}, {"name": "a"}),
    ({"name": "a", "deletionTimestamp": "2024-01-01T00:00:00Z"},
     {"name": "a", "deletionTimestamp": "2024-01-01T00:00:00Z"}),
])
def test_normalize_metadata(metadata: Obj, expected: Obj) -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"k": "v"}}
    assert normalize(obj)["metadata"] == expected


DEPLOY_RULE = IgnoreRule(group="apps", kind="Deployment", json_pointers=("/spec/replicas",))


@pytest.mark.parametrize("rule, gone, kept", [
    (DEPLOY_RULE, ["spec", "replicas"], ["spec", "selector"]),
    (IgnoreRule(kind="Deployment", json_pointers=("/spec/replicas",)), ["spec", "replicas"], None),
    (IgnoreRule(group="", kind="Deployment", json_pointers=("/spec/replicas",)), None, ["spec", "replicas"]),
    (IgnoreRule(kind="Deployment", name="w*", json_pointers=("/spec/replicas",)), ["spec", "replicas"], None),
    (IgnoreRule(kind="Deployment", name="api", json_pointers=("/spec/replicas",)), None, ["spec", "replicas"]),
    (IgnoreRule(kind="Deployment", namespace="prod", json_pointers=("/spec/replicas",)), None, ["spec", "replicas"]),
    (IgnoreRule(kind="StatefulSet", json_pointers=("/spec/replicas",)), None, ["spec", "replicas"]),
    (IgnoreRule(kind="*", json_pointers=("/metadata/annotations/deployment.kubernetes.io~1revision",)),
     ["metadata", "annotations"], ["metadata", "labels"]),
    (IgnoreRule(kind="*", json_pointers=("/spec/does/not/exist", "/spec/template/spec/containers/7")), None,
     ["spec", "template"]),
    (IgnoreRule(kind="*", json_pointers=("/spec/template/spec/containers/0/image",)),
     ["spec", "template", "spec", "containers", 0, "image"], ["spec", "template", "spec", "containers", 0, "name"]),
    (IgnoreRule(kind="*", jq_path_expressions=('.spec.template.spec.containers[].env[] | select(.name == "MODE")',)),
     ["spec", "template", "spec", "containers", 0, "env", 1], ["spec", "template", "spec", "containers", 0, "env", 0]),
])
def test_ignore_rule_pointers_and_matching(rule: IgnoreRule, gone: list[Any] | None, kept: list[Any] | None) -> None:
    out = normalize(load("deployment-live"), [rule])

    def has(path: list[Any]) -> bool:
        cur: Any = out
        for p in path:
            try:
                cur = cur[p]
            except (KeyError, IndexError):
                return False
        return True

    if gone:
        assert not has(gone)
    if kept:
        assert has(kept)


def test_jq_select_removes_only_the_matching_item() -> None:
    rule = IgnoreRule(kind="Deployment", jq_path_expressions=(
        '.spec.template.spec.containers[].env[] | select(.name == "MODE")',))
    env = container(normalize(load("deployment-live"), [rule]))["env"]
    assert env == [{"name": "LOG_LEVEL", "value": "info"}]


def test_removing_the_last_annotation_drops_the_empty_map() -> None:
    rule = IgnoreRule(kind="*", json_pointers=("/metadata/annotations/deployment.kubernetes.io~1revision",))
    assert "annotations" not in normalize(load("deployment-live"), [rule])["metadata"]


# --- loading ignore rules -------------------------------------------------------------------------

def test_load_ignore_rules_accepts_argo_keys() -> None:
    data = yaml.safe_load("""
    - group: apps
      kind: Deployment
      jsonPointers: [/spec/replicas]
    - kind: ConfigMap
      name: generated-*
      namespace: demo
      managedFieldsManagers: [kube-controller-manager]
    - group: "*"
      kind: "*"
      jqPathExpressions: ['.spec.template.spec.initContainers[] | select(.name == "istio-init")']
    """)
    rules = load_ignore_rules(data, "ignore.yaml")
    assert rules[0] == IgnoreRule(group="apps", kind="Deployment", json_pointers=("/spec/replicas",))
    assert rules[1].name == "generated-*" and rules[1].managed_fields_managers == ("kube-controller-manager",)
    assert rules[1].group == "*"  # omitted group matches every group (Argo CD: the core group only)
    assert rules[2].jq_path_expressions


@pytest.mark.parametrize("data", [
    {"ignoreDifferences": [{"kind": "Deployment", "jsonPointers": ["/spec/replicas"]}]},
    {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
     "spec": {"ignoreDifferences": [{"kind": "Deployment", "jsonPointers": ["/spec/replicas"]}]}},
])
def test_load_ignore_rules_from_a_mapping_or_an_argo_application(data: Obj) -> None:
    assert load_ignore_rules(data, "x.yaml") == [IgnoreRule(kind="Deployment", json_pointers=("/spec/replicas",))]


@pytest.mark.parametrize("data, message", [
    ("just text", "expected a list"),
    ({"rules": []}, "expected a list"),
    (["/spec/replicas"], "ignoreDifferences[0]: expected a mapping"),
    ([{"kind": "Deployment", "jsonPointer": ["/spec/replicas"]}], "ignoreDifferences[0]: unknown key jsonPointer"),
    ([{"group": "apps", "jsonPointers": ["/spec/replicas"]}], "ignoreDifferences[0]: kind is required"),
    ([{"kind": "Deployment", "jsonPointers": ["/a"]}, {"kind": "Deployment"}],
     "ignoreDifferences[1]: the rule ignores nothing"),
    ([{"kind": "Deployment", "jsonPointers": ["spec/replicas"]}], "starts with '/'"),
    ([{"kind": "Deployment", "jsonPointers": ["/metadata/annotations/a~2b"]}], "'~' must be escaped"),
    ([{"kind": "Deployment", "jsonPointers": "/spec/replicas"}], "jsonPointers must be a list"),
    ([{"kind": 3, "jsonPointers": ["/a"]}], "kind must be a string"),
    ([{"kind": "Deployment", "jqPathExpressions": [".spec | del(.replicas)"]}], "is not supported"),
    ([{"kind": "Deployment", "jqPathExpressions": [".spec.x | select(.a and .b)"]}], "is not supported"),
])
def test_bad_ignore_rules_name_the_file_and_entry(data: Any, message: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        load_ignore_rules(data, "ignore.yaml")
    assert message in str(err.value)
    assert str(err.value).startswith("ignore.yaml")
    assert err.value.exit_code == ExitCode.INVALID_INPUT


def test_unsupported_jq_suggests_json_pointers() -> None:
    with pytest.raises(InvalidInputError) as err:
        IgnoreRule.from_dict({"kind": "Deployment", "jqPathExpressions": ["[.a, .b]"]})
    assert "jsonPointers" in (err.value.hint or "")


# --- masking --------------------------------------------------------------------------------------

def secret(**data: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": dict(data)}


@pytest.mark.parametrize("before, after, want_before, want_after", [
    ({"a": "x"}, {"a": "x"}, {"a": MASK}, {"a": MASK}),
    ({"a": "x"}, {"a": "y"}, {"a": MASK_BEFORE}, {"a": MASK_AFTER}),
    ({"a": "x"}, {"a": "x", "b": "y"}, {"a": MASK}, {"a": MASK, "b": MASK}),
    ({"a": "x", "b": "y"}, {"a": "x"}, {"a": MASK, "b": MASK}, {"a": MASK}),
    ({"a": "x"}, {}, {"a": MASK}, {}),
])
def test_mask_secret_data_kubectl_style(before: Obj, after: Obj, want_before: Obj, want_after: Obj) -> None:
    b, a = mask_secrets(secret(**before), secret(**after))
    assert b is not None and a is not None
    assert b["data"] == want_before
    assert a["data"] == want_after


def test_mask_one_sided_and_string_data() -> None:
    b, a = mask_secrets(None, {**secret(a=b64(CANARY)), "stringData": {"p": CANARY}})
    assert b is None and a is not None
    assert a["data"] == {"a": MASK} and a["stringData"] == {"p": MASK}
    b, a = mask_secrets(secret(a=CANARY), None)
    assert a is None and b is not None and b["data"] == {"a": MASK}


def test_mask_last_applied_on_any_kind_but_not_configmap_data() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "annotations": {
        ANN_LAST_APPLIED: json.dumps({"data": {"k": CANARY}}), "team": "web"}}, "data": {"k": "visible"}}
    changed = edited(cm, lambda o: o["metadata"]["annotations"].update({ANN_LAST_APPLIED: "{}"}))
    b, a = mask_secrets(cm, changed)
    assert b is not None and a is not None
    assert b["metadata"]["annotations"] == {ANN_LAST_APPLIED: MASK_BEFORE, "team": "web"}
    assert a["metadata"]["annotations"][ANN_LAST_APPLIED] == MASK_AFTER
    assert b["data"] == {"k": "visible"}
    assert cm["metadata"]["annotations"][ANN_LAST_APPLIED] != MASK  # inputs untouched


def test_mask_argo_style_gives_each_distinct_value_its_own_mask() -> None:
    b, a = mask_secrets(secret(a="x", b="x", c="y"), secret(a="x", b="z", c="y"), style="argo")
    assert b is not None and a is not None
    assert b["data"]["a"] == b["data"]["b"] == a["data"]["a"] == "++++++++"
    assert len({b["data"]["a"], b["data"]["c"], a["data"]["b"]}) == 3
    assert all(set(v) == {"+"} for v in [*b["data"].values(), *a["data"].values()])


def test_mask_extra_pointer_marked_by_the_user() -> None:
    obj = {"apiVersion": "example.com/v1", "kind": "Db", "metadata": {"name": "d"}, "spec": {"password": CANARY}}
    b, _ = mask_secrets(obj, None, pointers=["/spec/password", "/spec/absent"])
    assert b is not None and b["spec"] == {"password": MASK}


def test_masking_never_returns_a_plaintext_value() -> None:
    live, desired = load("secret-live"), load("secret-desired")
    merged = edited(live, lambda o: o["data"].update(password=b64(CANARY)))
    for before, after in [(live, merged), (live, desired), (None, desired), (live, None), (desired, desired)]:
        b, a = mask_secrets(before, after)
        assert not leaks(json.dumps([b, a]))


# --- the fast path ---------------------------------------------------------------------------------

def set_(path: str, value: Any) -> Callable[[Obj], None]:
    def edit(obj: Obj) -> None:
        keys: list[Any] = [int(p) if p.isdigit() else p for p in path.split(".")]
        cur: Any = obj
        for k in keys[:-1]:
            cur = cur[k]
        cur[keys[-1]] = value
    return edit


def delete(path: str) -> Callable[[Obj], None]:
    def edit(obj: Obj) -> None:
        keys: list[Any] = [int(p) if p.isdigit() else p for p in path.split(".")]
        cur: Any = obj
        for k in keys[:-1]:
            cur = cur[k]
        del cur[keys[-1]]
    return edit


C0 = "spec.template.spec.containers.0"
MF = "metadata.managedFields"

# name -> (fixture, edits to desired, edits to live, may differ?)
MAY_DIFFER: dict[str, tuple[str, list[Callable[[Obj], None]], list[Callable[[Obj], None]], bool]] = {
    "deployment synced": ("deployment", [], [], False),
    "our source-commit annotation is not a field we compare": (
        "deployment", [set_("metadata.annotations", {ANN_SOURCE_COMMIT: "fff"})], [], False),
    "a label someone else added in live": (
        "deployment", [], [set_("metadata.labels.team", "web")], False),
    "replicas changed in git": ("deployment", [set_("spec.replicas", 4)], [], True),
    "image changed in git": ("deployment", [set_(f"{C0}.image", "nginx:1.26")], [], True),
    "a field removed from git but still owned by us": ("deployment", [delete(f"{C0}.resources")], [], True),
    "an env var removed from git": ("deployment", [lambda o: container(o)["env"].pop()], [], True),
    "a server default written into git takes ownership": (
        "deployment", [set_(f"{C0}.imagePullPolicy", "IfNotPresent")], [], True),
    "the string '3' is not the number 3": ("deployment", [set_("spec.replicas", "3")], [], True),
    "the float 3.0 is not the integer 3": ("deployment", [set_("spec.replicas", 3.0)], [], True),
    "a null in git": ("deployment", [set_("spec.paused", None)], [], True),
    "env order differs from live": ("deployment", [lambda o: container(o)["env"].reverse()], [], True),
    "someone edited replicas in live": ("deployment", [], [set_("spec.replicas", 5)], True),
    "someone removed our label in live": ("deployment", [], [delete("metadata.labels.app")], True),
    "live has a container injected by a webhook": (
        "deployment", [], [lambda o: o["spec"]["template"]["spec"]["containers"].append(
            {"name": "sidecar", "image": "proxy"})], True),
    "no managedFields at all": ("deployment", [], [delete(MF)], True),
    "our entry is an Update, not an Apply (client-side apply)": (
        "deployment", [], [lambda o: o["metadata"]["managedFields"][0].update(operation="Update")], True),
    "another field manager name": ("deployment", [], [lambda o: o["metadata"]["managedFields"][0].update(
        manager="kubectl")], True),
    "garbage in fieldsV1": ("deployment", [], [lambda o: our_fields(o).update({"x:weird": {}})], True),
    "a different apiVersion": ("deployment", [set_("apiVersion", "apps/v1beta2")], [], True),
    "atomic selector with an extra key in live": (
        "deployment", [], [set_("spec.selector.matchLabels.tier", "front")], True),
    "service synced: port key with the server-defaulted protocol": ("service", [], [], False),
    "service port with an explicit protocol we do not own": (
        "service", [set_("spec.ports.0.protocol", "TCP")], [], True),
    "service selector changed in git (atomic map)": ("service", [set_("spec.selector", {"app": "api"})], [], True),
    "service selector extended in live (atomic map)": ("service", [], [set_("spec.selector.tier", "x")], True),
    "service port that matches two keyed entries is ambiguous": (
        "service", [lambda o: o["spec"]["ports"].append({"name": "dns", "port": 80, "targetPort": 53})],
        [lambda o: o["spec"]["ports"].append({"name": "dns", "port": 80, "protocol": "UDP", "targetPort": 53}),
         lambda o: our_fields(o)["f:spec"]["f:ports"].update({'k:{"port":80,"protocol":"UDP"}': {
             ".": {}, "f:name": {}, "f:port": {}, "f:targetPort": {}}})], True),
}


@pytest.mark.parametrize("name", list(MAY_DIFFER))
def test_may_differ(name: str) -> None:
    fixture, desired_edits, live_edits, expected = MAY_DIFFER[name]
    desired = edited(load(f"{fixture}-desired"), *desired_edits)
    live = edited(load(f"{fixture}-live"), *live_edits)
    assert may_differ(desired, live) is expected


def finalizer_object(live_finalizers: list[str], owned: list[str]) -> tuple[Obj, Obj]:
    desired = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "finalizers": ["a", "b"]}}
    fields = {"f:metadata": {"f:finalizers": {".": {}, **{f"v:{json.dumps(v)}": {} for v in owned}}}}
    live = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {
        "name": "w", "finalizers": live_finalizers, "uid": "1",
        "managedFields": [{"manager": FIELD_MANAGER, "operation": "Apply", "fieldsType": "FieldsV1",
                           "fieldsV1": fields}]}}
    return desired, live


@pytest.mark.parametrize("live_finalizers, owned, expected", [
    (["a", "b"], ["a", "b"], False),
    (["a", "b"], ["a"], True),
    (["a", "c"], ["a", "b"], True),
    (["a", "b", "c"], ["a", "b"], True),
])
def test_may_differ_with_set_lists(live_finalizers: list[str], owned: list[str], expected: bool) -> None:
    desired, live = finalizer_object(live_finalizers, owned)
    assert may_differ(desired, live) is expected


@pytest.mark.parametrize("owned, expected", [
    (None, False),  # nothing to apply and nothing owned: an apply changes nothing
    ({"f:metadata": {"f:labels": {".": {}, "f:team": {}}}}, True),  # a label removed from git
    ({"f:metadata": {"f:annotations": {".": {}, f"f:{ANN_SOURCE_COMMIT}": {}}}}, False),
])
def test_may_differ_for_an_object_with_no_fields(owned: Obj | None, expected: bool) -> None:
    desired = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}
    live: Obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo", "labels": {"team": "a"}},
                 "spec": {"finalizers": ["kubernetes"]}}
    if owned is not None:
        live["metadata"]["managedFields"] = [{"manager": FIELD_MANAGER, "operation": "Apply", "fieldsV1": owned}]
    assert may_differ(desired, live) is expected


def test_may_differ_uses_the_field_manager_given() -> None:
    desired, live = load("deployment-desired"), load("deployment-live")
    assert may_differ(desired, live, field_manager="someone-else") is True


def string_data_secret(string_data: dict[str, Any], live_data: dict[str, str], *,
                       desired_data: dict[str, str] | None = None,
                       owned_data: tuple[str, ...] = ()) -> tuple[Obj, Obj]:
    """A Secret applied with ``stringData`` and its live object as the API server stores it: the values in
    ``data`` (base64), no ``stringData``, and our managedFields naming ``f:stringData`` members."""
    desired: Obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "demo"},
                    "stringData": string_data}
    fields: Obj = {"f:stringData": {f"f:{k}": {} for k in string_data}}
    if desired_data is not None:
        desired["data"] = desired_data
    if desired_data or owned_data:
        fields["f:data"] = {f"f:{k}": {} for k in [*(desired_data or {}), *owned_data]}
    live: Obj = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "data": live_data,
                 "metadata": {"name": "db", "namespace": "demo", "uid": "1", "resourceVersion": "7",
                              "managedFields": [{"manager": FIELD_MANAGER, "operation": "Apply",
                                                 "fieldsType": "FieldsV1", "fieldsV1": fields}]}}
    return desired, live


@pytest.mark.parametrize("string_data, live_data, desired_data, owned_data, expected", [
    pytest.param({"password": "hunter2", "user": "app"}, {"password": b64("hunter2"), "user": b64("app")},
                 None, (), False, id="unchanged"),
    pytest.param({"password": "hunter2"}, {"password": b64("hunter2"), "extra": b64("x")},
                 {"extra": b64("x")}, (), False, id="unchanged, with data beside it"),
    pytest.param({"note": "caf\u00e9 \u2603\nline 2"}, {"note": b64("caf\u00e9 \u2603\nline 2")},
                 None, (), False, id="unicode and newlines"),
    pytest.param({"password": "hunter3"}, {"password": b64("hunter2")}, None, (), True, id="value changed in git"),
    pytest.param({"password": "hunter2", "new": "x"}, {"password": b64("hunter2")}, None, (), True,
                 id="key added in git"),
    pytest.param({"password": "hunter2"}, {"password": "not base64!"}, None, (), True, id="live not base64"),
    pytest.param({"password": "hunter2"}, {"password": base64.b64encode(b"\xff\xfe").decode()}, None, (), True,
                 id="live not UTF-8"),
    pytest.param({"password": "hunter2"}, {"password": b64("hunter2")}, {"password": b64("other")}, (), True,
                 id="same key under data and stringData"),
    pytest.param({"password": "hunter2"}, {"password": b64("hunter2"), "old": b64("y")}, None, ("old",), True,
                 id="a data key removed from git but still owned"),
    pytest.param({"port": 5432}, {"port": b64("5432")}, None, (), True, id="a number is not a string"),
])
def test_may_differ_for_a_secret_written_with_string_data(
        string_data: dict[str, Any], live_data: dict[str, str], desired_data: dict[str, str] | None,
        owned_data: tuple[str, ...], expected: bool) -> None:
    desired, live = string_data_secret(string_data, live_data, desired_data=desired_data, owned_data=owned_data)
    before = copy.deepcopy(live)
    assert may_differ(desired, live) is expected
    assert live == before  # the decoded view is a copy: nothing decoded lands in the live object


def test_may_differ_for_a_secret_whose_data_someone_else_changed() -> None:
    desired, live = string_data_secret({"password": "hunter2"}, {"password": b64("hunter2")})
    live["data"]["password"] = b64("rotated")
    assert may_differ(desired, live) is True


# --- drift ------------------------------------------------------------------------------------------

def merged_after_sync(live: Obj, desired: Obj) -> Obj:
    """What a dry-run apply of deployment-desired returns for deployment-live-drifted."""
    return edited(live, set_("spec.replicas", desired["spec"]["replicas"]),
                  set_(f"{C0}.image", container(desired)["image"]), delete(MF))


def test_drift_names_the_manager_operation_and_time_of_each_field() -> None:
    live = load("deployment-live-drifted")
    merged = merged_after_sync(live, load("deployment-desired"))
    assert drift(live, merged) == [
        Drift("spec.replicas", "kubectl-edit", "Update", "2024-05-02T08:00:00Z"),
        Drift("spec.template.spec.containers[name=web].image", "kubectl-set", "Update", "2024-05-02T09:30:00Z"),
    ]


def test_changes_to_fields_only_we_own_are_not_drift() -> None:
    live = load("deployment-live")
    merged = edited(live, set_("spec.replicas", 4), set_(f"{C0}.env.1.value", "debug"))
    assert drift(live, merged) == []


def test_drift_with_shared_ownership_names_the_latest_writer() -> None:
    live = load("deployment-live-drifted")
    live["metadata"]["managedFields"].append({
        "manager": "hpa-controller", "operation": "Update", "subresource": "scale",
        "time": "2024-05-03T00:00:00Z", "fieldsV1": {"f:spec": {"f:replicas": {}}}})
    merged = merged_after_sync(live, load("deployment-desired"))
    assert drift(live, merged)[0] == Drift("spec.replicas", "hpa-controller", "Update", "2024-05-03T00:00:00Z")


def test_drift_paths_for_keys_that_are_not_identifiers() -> None:
    live = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
            "name": "c", "labels": {"app.kubernetes.io/name": "x"},
            "managedFields": [{"manager": "helm", "operation": "Update", "time": None, "fieldsV1": {
                "f:metadata": {"f:labels": {"f:app.kubernetes.io/name": {}}}}}]}}
    merged = edited(live, set_("metadata.labels", {"app.kubernetes.io/name": "y"}))
    assert [d.path for d in drift(live, merged)] == ['metadata.labels["app.kubernetes.io/name"]']


# --- classify -------------------------------------------------------------------------------------

def manifest(name: str) -> Manifest:
    return Manifest(load(name), Origin(f"apps/{name}.yaml", 3))


def test_classify_create_uses_the_dry_run_result_or_the_manifest() -> None:
    m = manifest("deployment-desired")
    merged = normalize(load("deployment-live"))
    ch = classify(m, None, merged)
    assert ch.op is Op.CREATE and ch.changed and ch.before is None
    assert ch.after is not None and ch.after["spec"]["revisionHistoryLimit"] == 10
    ch = classify(m, None, None)
    assert ch.after == normalize(m.obj)
    assert ch.key == ResourceKey("apps", "Deployment", "demo", "web")


def test_classify_unchanged_when_the_fast_path_hands_live_as_merged() -> None:
    live = load("deployment-live")
    ch = classify(manifest("deployment-desired"), live, live)
    assert ch.op is Op.UNCHANGED and not ch.changed and ch.drift == []
    assert ch.before == ch.after == normalize(live)


def test_classify_unchanged_when_only_server_fields_and_the_commit_differ() -> None:
    live = load("deployment-live")
    merged = edited(live, set_("metadata.resourceVersion", "99999"), set_("metadata.generation", 2),
                    lambda o: o["metadata"]["annotations"].update({ANN_SOURCE_COMMIT: "new-commit"}),
                    lambda o: o["metadata"]["managedFields"][0].update(time="2024-06-01T00:00:00Z"))
    assert classify(manifest("deployment-desired"), live, merged).op is Op.UNCHANGED


def test_classify_update_with_drift() -> None:
    live = load("deployment-live-drifted")
    m = manifest("deployment-desired")
    ch = classify(m, live, merged_after_sync(live, m.obj))
    assert ch.op is Op.UPDATE and ch.changed
    assert ch.before is not None and ch.after is not None
    assert (ch.before["spec"]["replicas"], ch.after["spec"]["replicas"]) == (5, 3)
    assert [d.manager for d in ch.drift] == ["kubectl-edit", "kubectl-set"]
    assert ch.to_json() == {
        "op": "update", "group": "apps", "version": "v1", "kind": "Deployment", "namespace": "demo", "name": "web",
        "source": "apps/deployment-desired.yaml:3",
        "drift": [
            {"path": "spec.replicas", "manager": "kubectl-edit", "operation": "Update",
             "time": "2024-05-02T08:00:00Z"},
            {"path": "spec.template.spec.containers[name=web].image", "manager": "kubectl-set",
             "operation": "Update", "time": "2024-05-02T09:30:00Z"}],
        "ignoredExtraneous": False, "note": "",
    }


@pytest.mark.parametrize("rules, op", [
    ([], Op.UPDATE),
    ([IgnoreRule(group="apps", kind="Deployment", json_pointers=(
        "/spec/replicas", "/spec/template/spec/containers/0/image"))], Op.UNCHANGED),
    ([IgnoreRule(kind="Deployment", managed_fields_managers=("kubectl-edit", "kubectl-set"))], Op.UNCHANGED),
    ([IgnoreRule(kind="Deployment", managed_fields_managers=("kubectl-edit",))], Op.UPDATE),
    ([IgnoreRule(kind="Deployment", namespace="other", managed_fields_managers=("kubectl-edit", "kubectl-set"))],
     Op.UPDATE),
    ([IgnoreRule(kind="Deployment", jq_path_expressions=(
        ".spec.replicas", '.spec.template.spec.containers[] | select(.name == "web") | .image'))], Op.UNCHANGED),
])
def test_classify_honours_ignore_rules(rules: list[IgnoreRule], op: Op) -> None:
    live = load("deployment-live-drifted")
    m = manifest("deployment-desired")
    assert classify(m, live, merged_after_sync(live, m.obj), rules).op is op


def test_strip_managed_by_removes_only_differing_fields_of_those_managers() -> None:
    live = load("deployment-live-drifted")
    before = normalize(live)
    after = normalize(merged_after_sync(live, load("deployment-desired")))
    b, a = strip_managed_by(before, after, live["metadata"]["managedFields"], ["kubectl-edit"])
    assert "replicas" not in b["spec"] and "replicas" not in a["spec"]
    assert container(b)["image"] != container(a)["image"]  # kubectl-set is not trusted
    assert b["metadata"]["annotations"] == before["metadata"]["annotations"]
    assert before["spec"]["replicas"] == 5  # inputs untouched


def test_classify_without_a_dry_run_lays_the_manifest_over_live() -> None:
    live = load("deployment-live")
    m = Manifest(edited(load("deployment-desired"), set_("spec.replicas", 4)))
    ch = classify(m, live, None)
    assert ch.op is Op.UPDATE and "not dry-run" in ch.note
    assert ch.before is not None and ch.after is not None
    assert ch.after["spec"]["replicas"] == 4
    assert ch.after["spec"]["revisionHistoryLimit"] == 10  # server defaults from live are kept
    assert container(ch.after)["imagePullPolicy"] == "IfNotPresent"
    assert {k for k in ch.after["spec"] if ch.after["spec"][k] != ch.before["spec"][k]} == {"replicas"}


def test_classify_secret_update_is_masked_and_still_visible() -> None:
    live, m = load("secret-live"), Manifest(load("secret-desired"))
    merged = edited(live, set_("data.password", b64(CANARY)))
    ch = classify(m, live, merged)
    assert ch.op is Op.UPDATE
    assert ch.before is not None and ch.after is not None
    assert (ch.before["data"]["password"], ch.after["data"]["password"]) == (MASK_BEFORE, MASK_AFTER)
    assert ch.after["data"]["user"] == MASK
    assert ch.before["metadata"]["annotations"][ANN_LAST_APPLIED] == MASK
    assert [d.path for d in ch.drift] == ["data.password"]
    assert not leaks(json.dumps([ch.before, ch.after, ch.to_json()]))
    assert not leaks(repr(ch))  # the plaintext manifest stays out of repr/tracebacks


def test_classify_unchanged_secret_is_masked() -> None:
    live = load("secret-live")
    ch = classify(Manifest(load("secret-desired")), live, live)
    assert ch.op is Op.UNCHANGED and not leaks(json.dumps([ch.before, ch.after]))


# --- deletion ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("annotation, ignored", [
    (None, False),
    ("IgnoreExtraneous", True),
    ("ServerSideDiff=true, IgnoreExtraneous", True),
    ("IgnoreExtraneousX", False),
])
def test_deletion_and_ignore_extraneous(annotation: str | None, ignored: bool) -> None:
    live = load("secret-live")
    if annotation:
        live["metadata"]["annotations"]["argocd.argoproj.io/compare-options"] = annotation
    ch = deletion(ResourceKey.of(live), live)
    assert ch.op is Op.DELETE and ch.after is None and ch.desired is None
    assert ch.ignored_extraneous is ignored
    assert ch.changed is (not ignored)
    assert ch.before is not None and ch.before["data"] == {"password": MASK, "user": MASK}
    assert ch.to_json()["source"] is None and ch.to_json()["version"] == "v1"


# --- the same rules for sync ------------------------------------------------------------------------

def test_respect_ignore_rules_keeps_live_values_of_ignored_fields() -> None:
    live = load("deployment-live-drifted")
    desired = load("deployment-desired")
    rules = [IgnoreRule(kind="Deployment", json_pointers=("/spec/replicas", "/spec/paused"))]
    out = respect_ignore_rules(desired, live, rules)
    assert out["spec"]["replicas"] == 5 and "paused" not in out["spec"]
    assert desired["spec"]["replicas"] == 3  # a copy
    assert respect_ignore_rules(desired, None, rules)["spec"].get("replicas") is None  # create: not sent


def test_respect_ignore_rules_leaves_fields_of_trusted_managers_out_of_the_apply() -> None:
    live = load("deployment-live-drifted")
    rules = [IgnoreRule(kind="Deployment", managed_fields_managers=("kubectl-set",))]
    out = respect_ignore_rules(load("deployment-desired"), live, rules)
    assert "image" not in container(out) and out["spec"]["replicas"] == 3


def test_change_is_a_plain_value() -> None:
    ch = Change(ResourceKey("", "ConfigMap", "d", "c"), Op.CREATE, None, None, {"apiVersion": "v1"}, [])
    assert ch.version == "v1" and ch.changed and ch.source is None


@pytest.mark.parametrize("with_live, with_merged", [(False, False), (False, True), (True, False), (True, True)])
def test_classify_never_changes_its_inputs(with_live: bool, with_merged: bool) -> None:
    """sync applies ``desired.obj`` after diff: masking it would write *** into the cluster."""
    desired = load("secret-desired")
    live = load("secret-live") if with_live else None
    merged = edited(load("secret-live"), set_("data.password", b64(CANARY))) if with_merged else None
    snapshot = copy.deepcopy((desired, live, merged))
    m = Manifest(desired)
    classify(m, live, merged, [IgnoreRule(kind="Secret", json_pointers=("/type",),
                                          managed_fields_managers=("kubectl-client-side-apply",))])
    if live is not None:
        deletion(ResourceKey.of(live), live)
    assert (m.obj, live, merged) == snapshot
