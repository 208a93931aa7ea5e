"""One helper per concept (issue 13): the sync-options annotation parsed once, the hook and step enums, the
unknown-kind order, GroupKind strings, the CRD spec reader and the two hook tests with different meanings."""

from __future__ import annotations

import json

import pytest
import yaml

from kubectl_gitops.cluster.client import ResourceType
from kubectl_gitops.engine.plan import (
    DELETE_POLICIES,
    UNKNOWN_KIND_ORDER,
    HookDeletePolicy,
    StepAction,
    SyncOptions,
    annotation_problems,
    build_plan,
    delete_policies,
    kind_rank,
    parse_sync_options,
    runs_as_hook,
    sync_options,
)
from kubectl_gitops.engine.sync_model import StepResult
from kubectl_gitops.model import ANN_HOOK, ANN_SYNC_OPTIONS, Manifest, Origin, ResourceKey, crd_spec, group_kind
from kubectl_gitops.ops.common import crd_kinds
from kubectl_gitops.source.validate import has_hook_annotation


def cm(annotations: dict[str, object] | None = None, name: str = "x") -> Manifest:
    meta: dict[str, object] = {"name": name, "namespace": "demo"}
    if annotations is not None:
        meta["annotations"] = annotations
    return Manifest({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}, Origin("x.yaml", 1))


def crd(group: object = "example.com", kind: object = "Widget", **spec: object) -> Manifest:
    body: dict[str, object] = {"group": group, "names": {"kind": kind, "plural": "widgets"}, **spec}
    return Manifest({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                     "metadata": {"name": "widgets.example.com"}, "spec": body})


# --- sync options: one parser, values and problems together ------------------------------------------------

def test_parse_sync_options_gives_values_and_problems_in_one_pass() -> None:
    parsed = parse_sync_options("Prune=false, Replace=true, Prune=flase, prunelast=true, Validate")
    assert parsed.options == SyncOptions(prune=False, replace=True)
    assert len(parsed.problems) == 3
    assert "'Prune=flase' has an invalid value" in parsed.problems[0]
    assert "unknown option 'prunelast=true' (did you mean PruneLast?)" in parsed.problems[1]
    assert "'Validate' has an invalid value" in parsed.problems[2]


def test_sync_options_and_annotation_problems_read_the_same_parse() -> None:
    m = cm({ANN_SYNC_OPTIONS: "Prune=confirm,Foo=bar"})
    assert sync_options(m) == parse_sync_options("Prune=confirm,Foo=bar").options
    assert annotation_problems(m) == [f"x.yaml:1: ConfigMap demo/x: {p}"
                                      for p in parse_sync_options("Prune=confirm,Foo=bar").problems]
    assert parse_sync_options(None).options == SyncOptions() and parse_sync_options(None).problems == ()


# --- enums: members are their strings ------------------------------------------------------------------------

def test_delete_policies_are_enum_members_equal_to_argo_strings() -> None:
    m = cm({ANN_HOOK: "PreSync", "argocd.argoproj.io/hook-delete-policy": "HookSucceeded",
            "helm.sh/hook-delete-policy": "hook-failed"})
    policies = delete_policies(m)
    assert policies == {HookDeletePolicy.HOOK_SUCCEEDED, HookDeletePolicy.HOOK_FAILED}
    assert policies == frozenset({"HookSucceeded", "HookFailed"})  # equal and hashed as their strings
    assert "HookSucceeded" in policies
    assert delete_policies(cm({ANN_HOOK: "PostSync"})) == {HookDeletePolicy.BEFORE_HOOK_CREATION}
    assert delete_policies(cm()) == frozenset()
    assert [str(p) for p in DELETE_POLICIES] == ["BeforeHookCreation", "HookSucceeded", "HookFailed"]
    assert f"{HookDeletePolicy.HOOK_FAILED}" == "HookFailed"


def test_plan_json_and_yaml_show_delete_policies_as_plain_strings() -> None:
    hook = cm({ANN_HOOK: "PreSync", "argocd.argoproj.io/hook-delete-policy": "HookFailed,HookSucceeded"})
    step = build_plan([hook]).steps[0]
    out = step.to_json()
    assert out["deletePolicies"] == ["HookSucceeded", "HookFailed"]
    assert all(type(p) is str for p in out["deletePolicies"])
    assert yaml.safe_dump(out)  # no enum reaches the YAML writer


def test_step_results_serialise_actions_as_strings() -> None:
    r = StepResult(ResourceKey("", "ConfigMap", "demo", "x"), build_plan([cm()]).steps[0].phase, 0,
                   StepAction.CONFIGURED)
    out = r.to_json()
    assert out["action"] == "configured" and type(out["action"]) is str
    assert json.loads(json.dumps(out))["action"] == "configured"
    assert yaml.safe_dump(out)
    assert StepAction.HOOK == "hook" and "failed" in {StepAction.FAILED}


# --- kind order, GroupKind, CRD spec ------------------------------------------------------------------------

def test_kind_rank_puts_unknown_kinds_last() -> None:
    assert kind_rank("Namespace") == 0
    assert kind_rank("APIService") == UNKNOWN_KIND_ORDER - 1
    assert kind_rank("Widget") == kind_rank("") == UNKNOWN_KIND_ORDER


@pytest.mark.parametrize(("group", "kind", "text"), [
    ("apps", "Deployment", "Deployment.apps"),
    ("", "ConfigMap", "ConfigMap"),
    ("example.com", "Widget", "Widget.example.com"),
])
def test_group_kind_is_one_function(group: str, kind: str, text: str) -> None:
    assert group_kind(group, kind) == text
    assert ResourceKey(group, kind, "ns", "n").group_kind == text
    assert ResourceType(group, "v1", kind, kind.lower() + "s", True).group_kind == text


def test_crd_spec_reads_group_kind_scope_and_versions() -> None:
    spec = crd(scope="Cluster", versions=[{"name": "v1"}, {"name": "v2"}])
    c = crd_spec(spec)
    assert c is not None and (c.group, c.kind, c.namespaced, c.versions) == ("example.com", "Widget", False,
                                                                             ("v1", "v2"))
    legacy = crd_spec(crd(version="v1beta1"))
    assert legacy is not None and legacy.namespaced and legacy.versions == ("v1beta1",)
    assert crd_spec(crd(group=5)) is None and crd_spec(crd(kind=None)) is None
    assert crd_spec(cm()) is None
    assert crd_kinds([spec, cm(), crd(group="")]) == {("example.com", "Widget")}


# --- two hook tests, named for what they mean ---------------------------------------------------------------

@pytest.mark.parametrize(("annotations", "annotated", "runs"), [
    ({ANN_HOOK: "PreSync"}, True, True),
    ({ANN_HOOK: "Skip"}, True, False),  # annotated, never run
    ({"helm.sh/hook": "test"}, True, False),  # a Helm hook a sync never runs
    ({"helm.sh/hook": "post-install"}, True, True),
    (None, False, False),
])
def test_has_hook_annotation_and_runs_as_hook_differ(annotations: dict[str, object] | None, annotated: bool,
                                                     runs: bool) -> None:
    m = cm(annotations)
    assert has_hook_annotation(m) is annotated
    assert runs_as_hook(m) is runs
