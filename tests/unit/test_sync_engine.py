"""The pure parts of the wave loop (kubectl_gitops.engine.sync): how a wave is cut into kind batches, and how results
and failures are reported. The loop itself runs against the real API server in tests/e2e/test_sync*.py.
"""

from __future__ import annotations

import json

import pytest

from kubectl_gitops.engine.plan import Phase, build_plan
from kubectl_gitops.engine.sync import _kind_batches
from kubectl_gitops.engine.sync_model import StepResult, SyncConfig, WaveFailed
from kubectl_gitops.errors import ExitCode
from kubectl_gitops.model import Manifest, Origin, ResourceKey


def obj(spec: str) -> Manifest:
    """``"Kind ns/name"`` or ``"Kind name"`` (cluster-scoped), ``@wave`` suffix for a sync wave; a kind with a dot
    is a custom resource (``Widget.example.com``); ``Namespace x`` and ``CustomResourceDefinition x`` are real."""
    text, _, wave = spec.partition("@")
    kind, name = text.split()
    api = "v1"
    if "." in kind:
        kind, group = kind.split(".", 1)
        api = f"{group}/v1"
    elif kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"):
        api = "apps/v1"
    elif kind == "Job":
        api = "batch/v1"
    elif kind in ("Role", "RoleBinding", "ClusterRole"):
        api = "rbac.authorization.k8s.io/v1"
    meta: dict[str, object] = {}
    ns, _, plain = name.rpartition("/")
    meta["name"] = plain
    if ns:
        meta["namespace"] = ns
    if wave:
        meta["annotations"] = {"argocd.argoproj.io/sync-wave": wave}
    body: dict[str, object] = {"apiVersion": api, "kind": kind, "metadata": meta}
    if kind == "CustomResourceDefinition":
        body["apiVersion"] = "apiextensions.k8s.io/v1"
        plural, _, group = plain.partition(".")
        body["spec"] = {"group": group, "names": {"kind": "Widget", "plural": plural}}
    return Manifest(body, Origin("x.yaml", 1))


def batches_text(specs: list[str]) -> list[str]:
    """Each wave's batches, one line per wave: ``Sync 0: [Service a/s] [Deployment a/d, Deployment a/e]``."""
    plan = build_plan([obj(s) for s in specs])
    lines = []
    for phase, wave, steps in plan.groups():
        cut = " ".join("[" + ", ".join(f"{s.kind} {s.display_name}" for s in b) + "]" for b in _kind_batches(steps))
        lines.append(f"{phase} {wave}: {cut}")
    return lines


CASES = {
    "one kind is one batch, applied concurrently": (
        ["ConfigMap a/c2", "ConfigMap a/c1", "ConfigMap b/c3"],
        ["Sync 0: [ConfigMap a/c1, ConfigMap a/c2, ConfigMap b/c3]"]),
    "kinds in Argo CD order, one batch each": (
        ["Deployment a/web", "Service a/web", "ConfigMap a/conf", "Secret a/s", "Role a/r", "RoleBinding a/rb"],
        ["Sync 0: [Secret a/s] [ConfigMap a/conf] [Role a/r] [RoleBinding a/rb] [Service a/web] "
         "[Deployment a/web]"]),
    "batches never cross a wave": (
        ["ConfigMap a/late@1", "ConfigMap a/early@-1", "ConfigMap a/mid"],
        ["Sync -1: [ConfigMap a/early]", "Sync 0: [ConfigMap a/mid]", "Sync 1: [ConfigMap a/late]"]),
    "custom resources of any kind share the last batch": (
        ["Widget.example.com a/w", "Gadget.example.org a/g", "Deployment a/d"],
        ["Sync 0: [Deployment a/d] [Gadget a/g, Widget a/w]"]),
    "a Namespace moved ahead of its first object splits a batch (the order of the plan is kept)": (
        ["ConfigMap a/x", "ConfigMap z/y", "Namespace z@1"],
        ["Sync 0: [ConfigMap a/x] [Namespace z] [ConfigMap z/y]"]),
    "a CRD moved into an earlier wave is its own batch before its custom resources": (
        ["Deployment a/d@-1", "Widget.example.com a/w@-1", "CustomResourceDefinition widgets.example.com"],
        ["Sync -1: [Deployment a/d] [CustomResourceDefinition widgets.example.com] [Widget a/w]"]),
}


@pytest.mark.parametrize("case", CASES)
def test_kind_batches(case: str) -> None:
    specs, expected = CASES[case]
    assert batches_text(specs) == expected


def test_kind_batches_keep_every_step_once_and_in_plan_order() -> None:
    plan = build_plan([obj(s) for s in ["ConfigMap a/b", "Service a/s", "ConfigMap a/a", "Namespace a",
                                        "Widget.example.com a/w", "Job a/j"]])
    steps = plan.steps
    flat = [s for b in _kind_batches(steps) for s in b]
    assert flat == steps
    assert _kind_batches([]) == []


def test_unknown_kinds_rank_after_every_known_kind() -> None:
    from kubectl_gitops.engine.plan import KIND_ORDER, UNKNOWN_KIND_ORDER, kind_rank

    assert max(KIND_ORDER.values()) < UNKNOWN_KIND_ORDER == kind_rank("Widget") == kind_rank("")
    assert kind_rank("Namespace") == 0


def test_a_step_result_is_json_with_rounded_seconds() -> None:
    r = StepResult(ResourceKey("apps", "Deployment", "shop", "web"), Phase.SYNC, 2, "configured", "Healthy",
                   seconds=1.23456)
    assert r.to_json() == {"phase": "Sync", "wave": 2, "group": "apps", "kind": "Deployment", "namespace": "shop",
                           "name": "web", "action": "configured", "health": "Healthy", "message": "",
                           "seconds": 1.235}
    json.dumps(r.to_json())  # serialisable as is


def test_a_failed_wave_names_each_object_its_health_and_message() -> None:
    failed = [StepResult(ResourceKey("batch", "Job", "shop", "migrate"), Phase.PRE_SYNC, 0, "failed", "Degraded",
                         "Job has reached the specified deadline")]
    err = WaveFailed("PreSync wave 0: 1 object(s) degraded", failed)
    assert err.exit_code is ExitCode.OPERATION_FAILED
    assert err.details == ["Job.batch shop/migrate: Degraded: Job has reached the specified deadline"]
    assert err.failed == failed


def test_sync_config_defaults_wait_for_health_with_a_bounded_pool() -> None:
    cfg = SyncConfig()
    assert cfg.wait is True and 1 < cfg.concurrency <= 64 and cfg.wave_timeout > 0 and not cfg.force_conflicts
