"""`waves`: the plan of the repository's objects, offline or with what a sync would do to each (``--live``)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from kubectl_gitops.engine.plan import Plan, build_plan, plan_annotation_checks
from kubectl_gitops.engine.policy_check import Verdict
from kubectl_gitops.model import ResourceKey
from kubectl_gitops.settings import Settings


@dataclass
class WavesResult:
    plan: Plan
    changes: dict[ResourceKey, str] | None  # with --live: what a sync would do to each object
    policy: Verdict | None = None  # with a policy (offline: --policy FILE only)


def run_waves(settings: Settings, *, live: bool = False, committed_only: bool = False,
              plain: bool = False) -> WavesResult:
    """Render and validate the repository and order it. Offline unless ``live``: then the same render, validation
    and server-side dry runs as ``diff`` say what a sync would do to each object. ``committed_only``: read
    --ref or HEAD, not the work tree (``sync --dry-run=client``)."""
    changes: dict[ResourceKey, str] | None = None
    if plain:  # app objects as plain objects (--apps=apply)
        settings = replace(settings, source=replace(settings.source, post_render=None))
    verdict: Verdict | None = None
    if live:
        from kubectl_gitops.ops.common import CompareOptions
        from kubectl_gitops.ops.diff import run_diff

        result = run_diff(settings, CompareOptions())
        manifests = result.manifests
        changes = {c.key: c.op.value for c in result.changes}
        changes.update({c.key: "hook (runs on sync)" for c in result.hooks})
        verdict = result.policy
    else:
        from kubectl_gitops.source.desired import load_desired

        desired = load_desired(settings.source, committed_only=committed_only,
                               default_namespace=settings.cluster.namespace or "default",
                               resolve=None, extra_checks=plan_annotation_checks)
        manifests = desired.manifests
        if settings.policy.file:  # offline, only a policy file can be read; what changes is unknown
            from kubectl_gitops.ops.app import app_name
            from kubectl_gitops.ops.policy import check, guard

            g = guard(settings.policy, app_name(settings, desired.checkout), None)
            verdict = check(g, {m.key: "unknown" for m in manifests})
    return WavesResult(build_plan(manifests), changes, verdict)
