"""Ordering as golden text tables: testdata/plan/<case>.yaml -> <case>.golden.

Regenerate after an intended change with ``UPDATE_GOLDEN=1 pytest tests/unit/test_plan.py`` and
read the diff before committing it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from kubectl_gitops.cli.waves_view import plan_json, render_dot, render_mermaid, render_table, summary
from kubectl_gitops.engine.plan import (
    KIND_ORDER,
    Phase,
    SyncOptions,
    annotation_problems,
    build_plan,
    sync_options,
)
from kubectl_gitops.errors import ExitCode, ValidationError
from kubectl_gitops.model import Manifest, Origin

DATA = Path(__file__).parent / "testdata" / "plan"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
CASES = sorted(p.stem for p in DATA.glob("*.yaml"))


def load(path: Path) -> list[Manifest]:
    """Multi-document YAML -> manifests with the file name and the line each document starts on."""
    manifests: list[Manifest] = []
    lines = path.read_text().splitlines(keepends=True)
    start, chunk = 1, []
    for number, line in enumerate([*lines, "---\n"], start=1):
        if line.rstrip() == "---":
            text = "".join(chunk)
            obj = yaml.safe_load(text)
            if obj:
                first = next(i for i, t in enumerate(chunk) if t.strip() and not t.lstrip().startswith("#"))
                manifests.append(Manifest(obj, Origin(path.name, start + first)))
            start, chunk = number + 1, []
        else:
            chunk.append(line)
    return manifests


def manifest(kind: str = "ConfigMap", name: str = "x", namespace: str = "demo", api: str = "v1",
             annotations: dict[str, object] | None = None, line: int = 3) -> Manifest:
    meta: dict[str, object] = {"name": name, "namespace": namespace}
    if annotations is not None:
        meta["annotations"] = annotations
    return Manifest({"apiVersion": api, "kind": kind, "metadata": meta}, Origin("apps/x.yaml", line))


def check_golden(path: Path, actual: str) -> None:
    actual = actual.rstrip("\n") + "\n"
    if UPDATE or not path.exists():
        path.write_text(actual)
        if not UPDATE:
            pytest.fail(f"{path.name} did not exist and was written; check it and run again")
    assert actual == path.read_text(), f"{path.name} differs (UPDATE_GOLDEN=1 to regenerate)"


@pytest.mark.parametrize("case", CASES)
def test_plan_matches_golden_table(case: str) -> None:
    plan = build_plan(load(DATA / f"{case}.yaml"))
    check_golden(DATA / f"{case}.golden", summary(plan) + "\n\n" + render_table(plan))


def test_argo_example_json_dot_and_mermaid_match_golden() -> None:
    plan = build_plan(load(DATA / "argo-sync-waves.yaml"))
    check_golden(DATA / "argo-sync-waves.json.golden", json.dumps(plan_json(plan), indent=2))
    check_golden(DATA / "argo-sync-waves.dot.golden", render_dot(plan))
    check_golden(DATA / "argo-sync-waves.mmd.golden", render_mermaid(plan))


def test_argo_example_runs_in_the_documented_order() -> None:
    plan = build_plan(load(DATA / "argo-sync-waves.yaml"))
    got = [(str(p), w, [f"{s.kind}/{s.name or s.generate_name}" for s in steps]) for p, w, steps in plan.groups()]
    assert got == [
        ("PreSync", 0, ["Namespace/demo", "Job/upgrade-sql-schema"]),
        ("Sync", 0, ["Service/backend", "ReplicaSet/backend"]),
        ("Sync", 1, ["Job/maint-page-up"]),
        ("Sync", 2, ["Service/frontend", "ReplicaSet/frontend"]),
        ("Sync", 3, ["Job/maint-page-down"]),
        ("SyncFail", 0, ["Job/rollback-"]),
    ]
    assert [s.order for s in plan.steps] == list(range(len(plan.steps)))
    assert plan.main_groups() == plan.groups()[:-1]
    assert [str(p) for p, _, _ in plan.groups(Phase.SYNC)] == ["Sync"] * 4


def test_namespace_moves_into_the_phase_and_wave_of_its_first_user() -> None:
    plan = build_plan(load(DATA / "dependency-moves.yaml"))
    by_name = {(s.kind, s.name): s for s in plan.steps}
    ops = by_name[("Namespace", "ops")]
    assert (ops.phase, ops.wave) == (Phase.PRE_SYNC, -1)
    assert ops.moved_by == "Namespace ops is needed by Job.batch ops/migrate"
    shop = by_name[("Namespace", "shop")]
    assert (shop.phase, shop.wave) == (Phase.SYNC, 0)
    crd = by_name[("CustomResourceDefinition", "widgets.example.com")]
    assert crd.wave == 1 and crd.moved_by == ("CustomResourceDefinition widgets.example.com is needed by "
                                              "Widget.example.com shop/w1")
    assert plan.steps.index(crd) == plan.steps.index(by_name[("Widget", "w1")]) - 1
    # already earlier: not moved
    assert by_name[("CustomResourceDefinition", "gadgets.example.com")].moved_by is None
    assert by_name[("Namespace", "unused")].moved_by is None


def test_skip_hooks_and_helm_hooks_a_sync_never_runs_are_left_out() -> None:
    plan = build_plan(load(DATA / "hooks.yaml") + load(DATA / "helm-hooks.yaml"))
    assert sorted(m.name for m in plan.skipped) == ["chart-test", "cleanup", "never"]
    assert all(s.name not in {"never", "chart-test", "cleanup"} for s in plan.steps)


def test_a_multi_phase_hook_appears_once_per_phase() -> None:
    plan = build_plan(load(DATA / "hooks.yaml"))
    check = [s for s in plan.steps if s.name == "check"]
    assert [s.phase for s in check] == [Phase.PRE_SYNC, Phase.POST_SYNC]
    assert check[0].delete_policies == frozenset({"HookSucceeded", "HookFailed"})


def test_generate_name_hook() -> None:
    plan = build_plan(load(DATA / "hooks.yaml"))
    (gen,) = [s for s in plan.steps if s.generate_name]
    assert gen.generated and gen.name == "" and gen.display_name == "demo/schema-migrate-*"
    assert gen.delete_policies == frozenset({"BeforeHookCreation"})
    assert gen.to_json()["generateName"] == "schema-migrate-"


def test_helm_hooks_are_mapped_like_argo() -> None:
    plan = build_plan(load(DATA / "helm-hooks.yaml"))
    steps = {(s.name, s.phase): s for s in plan.steps}
    db_init = steps[("db-init", Phase.PRE_SYNC)]
    assert db_init.wave == -5 and db_init.helm_hooks == ("pre-install", "pre-upgrade")
    assert db_init.delete_policies == frozenset({"BeforeHookCreation", "HookSucceeded"})
    assert steps[("notify", Phase.POST_SYNC)].delete_policies == frozenset({"HookFailed"})
    assert ("install-and-after", Phase.PRE_SYNC) in steps and ("install-and-after", Phase.POST_SYNC) in steps
    assert not steps[("widgets.example.com", Phase.SYNC)].hook  # crd-install is not a hook
    assert steps[("weighted", Phase.SYNC)].wave == 2
    assert steps[("wave-beats-weight", Phase.SYNC)].wave == 1
    argo = steps[("argo-wins", Phase.POST_SYNC)]
    assert argo.hook_types == ("PostSync",) and argo.helm_hooks == ()
    assert argo.delete_policies == frozenset({"HookSucceeded"})  # Helm delete policies still count


def test_kind_order_table_matches_compat_reference() -> None:
    assert list(KIND_ORDER)[:3] == ["Namespace", "NetworkPolicy", "ResourceQuota"]
    assert list(KIND_ORDER)[-3:] == ["IngressClass", "Ingress", "APIService"]
    assert len(KIND_ORDER) == 35


def test_plan_is_independent_of_input_order() -> None:
    manifests = load(DATA / "kind-order.yaml") + load(DATA / "argo-sync-waves.yaml")
    forward = [(s.key, s.phase, s.wave) for s in build_plan(manifests).steps]
    backward = [(s.key, s.phase, s.wave) for s in build_plan(list(reversed(manifests))).steps]
    assert forward == backward


@pytest.mark.parametrize(("text", "expected"), [
    (None, SyncOptions()),
    ("", SyncOptions()),
    ("Prune=false", SyncOptions(prune=False)),
    ("Prune=confirm", SyncOptions(prune=True, prune_confirm=True)),
    ("Prune=true", SyncOptions()),
    ("Delete=false", SyncOptions(delete=False)),
    ("Delete=confirm", SyncOptions(delete_confirm=True)),
    ("Replace=true,Force=true", SyncOptions(replace=True, force=True)),
    ("ServerSideApply=true", SyncOptions(server_side_apply=True)),
    ("ServerSideApply=false", SyncOptions(server_side_apply=False)),
    (" Validate=false , SkipDryRunOnMissingResource=true ",
     SyncOptions(validate=False, skip_dry_run_on_missing_resource=True)),
    ("PruneLast=true,CreateNamespace=true", SyncOptions(prune_last=True, create_namespace=True)),
    ("ApplyOutOfSyncOnly=false", SyncOptions(apply_out_of_sync_only=False)),
    ("Prune=flase,Replace=true", SyncOptions(replace=True)),  # invalid entries are ignored here...
])
def test_sync_options(text: str | None, expected: SyncOptions) -> None:
    annotations = None if text is None else {"argocd.argoproj.io/sync-options": text}
    assert sync_options(manifest(annotations=annotations)) == expected


WAVE = "argocd.argoproj.io/sync-wave"
HOOK = "argocd.argoproj.io/hook"
POLICY = "argocd.argoproj.io/hook-delete-policy"
OPTIONS = "argocd.argoproj.io/sync-options"


@pytest.mark.parametrize(("annotations", "expected"), [
    ({WAVE: "one"}, "sync-wave 'one' is not an integer; valid values are whole numbers"),
    ({WAVE: "1.5"}, "sync-wave '1.5' is not an integer"),
    ({WAVE: " 2"}, "sync-wave ' 2' is not an integer"),
    ({WAVE: 3}, "sync-wave is the number 3, but annotation values are strings; quote it: \"3\""),
    ({"helm.sh/hook-weight": "heavy"}, "hook-weight 'heavy' is not an integer"),
    ({HOOK: "Presync"}, "hook 'Presync' is not a hook type; valid values are PreSync, Sync, PostSync, SyncFail, Skip"),
    ({HOOK: ""}, "hook is empty; valid values are PreSync"),
    ({HOOK: "PreSync", POLICY: "OnSuccess"},
     "hook-delete-policy 'OnSuccess' is not a delete policy; valid values are BeforeHookCreation, HookSucceeded"),
    ({"helm.sh/hook": "pre-instal"}, "helm.sh/hook 'pre-instal' is not a Helm hook; valid values are pre-install"),
    ({"helm.sh/hook": "pre-install", "helm.sh/hook-delete-policy": "always"},
     "hook-delete-policy 'always' is not a Helm delete policy; valid values are before-hook-creation"),
    ({OPTIONS: "Prune=flase"}, "sync-options 'Prune=flase' has an invalid value; valid values are Prune=true, "
                               "Prune=false, Prune=confirm"),
    ({OPTIONS: "Validate=False"}, "'Validate=False' has an invalid value; valid values are Validate=true, "
                                  "Validate=false"),
    ({OPTIONS: "Replace"}, "'Replace' has an invalid value"),
    ({OPTIONS: "prunelast=true"}, "unknown option 'prunelast=true' (did you mean PruneLast?); valid options are"),
    ({OPTIONS: "Turbo=true"}, "unknown option 'Turbo=true'; valid options are Prune=true|false|confirm"),
])
def test_invalid_annotation_names_object_file_and_valid_values(annotations: dict[str, object], expected: str) -> None:
    problems = annotation_problems(manifest(kind="Deployment", api="apps/v1", name="web", annotations=annotations,
                                            line=12))
    assert len(problems) == 1, problems
    assert problems[0].startswith("apps/x.yaml:12: Deployment.apps demo/web: "), problems[0]
    assert expected in problems[0]


@pytest.mark.parametrize("annotations", [
    {WAVE: "-3"}, {WAVE: "+3"}, {HOOK: "PreSync,PostSync"}, {HOOK: " Skip "},
    {HOOK: "SyncFail", POLICY: "HookSucceeded, HookFailed"}, {"helm.sh/hook": "crd-install"},
    {"helm.sh/hook": "test-success"}, {OPTIONS: "Prune=confirm,ServerSideApply=true,FailOnSharedResource=true"},
])
def test_valid_annotations_have_no_problems(annotations: dict[str, object]) -> None:
    assert annotation_problems(manifest(annotations=annotations)) == []


def test_a_hook_without_name_or_generate_name_is_a_problem() -> None:
    m = Manifest({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"namespace": "demo",
                  "annotations": {HOOK: "PreSync"}}}, Origin("hooks/job.yaml", 1))
    assert annotation_problems(m) == [
        "hooks/job.yaml:1: Job.batch demo/: a hook needs metadata.name or metadata.generateName"]


def test_build_plan_reports_every_problem_at_once() -> None:
    bad = [manifest(name="a", annotations={WAVE: "x"}, line=1),
           manifest(name="b", annotations={HOOK: "Pre", OPTIONS: "Force=yes"}, line=9),
           manifest(name="ok", line=20)]
    with pytest.raises(ValidationError) as info:
        build_plan(bad)
    err = info.value
    assert err.exit_code is ExitCode.INVALID_INPUT
    assert len(err.details) == 3
    assert [d.split(":")[1] for d in err.details] == ["1", "9", "9"]
    assert "ConfigMap demo/a" in err.details[0] and "ConfigMap demo/b" in err.details[2]


def test_phase_names_and_ranks() -> None:
    assert [str(p) for p in sorted(Phase)] == ["PreSync", "Sync", "PostSync", "SyncFail"]
    assert [int(p) for p in sorted(Phase)] == [-1, 0, 1, 2]
    assert f"{Phase.POST_SYNC}" == "PostSync" and Phase.parse("SyncFail") is Phase.SYNC_FAIL
    with pytest.raises(ValueError):
        Phase.parse("presync")
