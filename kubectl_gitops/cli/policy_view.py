"""How the policy's answers are shown: violations and protected changes (with their diffs), and the terminal
question that approves a protected change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from kubectl_gitops.cli.output import Printer
from kubectl_gitops.engine.diff import Change
from kubectl_gitops.engine.policy import Rule
from kubectl_gitops.engine.policy_check import ProtectedChange, Verdict
from kubectl_gitops.model import ResourceKey


def show_verdict(p: Printer, verdict: Verdict | None) -> None:
    """Violations and protected changes on stderr (diff and waves: a pull request sees them before merge)."""
    if verdict is None or verdict.policy is None:
        return
    rule = verdict.rule.where if verdict.rule else "no rule"
    if not verdict.violations and not verdict.protected:
        p.info(f"policy {verdict.policy}: app {verdict.app} ({rule}): allowed")
        return
    if verdict.violations:
        p.info(p.style(f"policy {verdict.policy}: app {verdict.app} ({rule}): {len(verdict.violations)} "
                       "violation(s); sync refuses it", "red", p.err))
        for v in verdict.violations:
            p.info(f"  - {v}")
    for pc in verdict.protected:
        p.info(p.style(f"  protected: {pc.key} ({pc.op}): {pc.pattern}; sync needs --confirm-protected {pc.token}",
                       "yellow", p.err))


def verdict_json(verdict: Verdict | None) -> dict[str, Any] | None:
    if verdict is None or verdict.policy is None:
        return None
    return {"policy": verdict.policy, "app": verdict.app, "rule": verdict.rule.name if verdict.rule else None,
            "violations": [v.to_json() for v in verdict.violations],
            "protected": [{"object": str(pc.key), "op": pc.op, "pattern": pc.pattern, "confirm": pc.token}
                          for pc in verdict.protected]}


def with_policy(steps: list[dict[str, Any]], plan: Any, verdict: Verdict | None) -> list[dict[str, Any]]:
    """``waves -o json`` with a policy: each step gets ``policy`` (its violations) and ``protected``."""
    if verdict is None or verdict.policy is None:
        return steps
    for data, step in zip(steps, plan.steps, strict=True):
        data["policy"] = [f"{v.why} [{v.rule}]" for v in verdict.violations if v.key == step.key]
        data["protected"] = any(pc.key == step.key for pc in verdict.protected)
    return steps


def make_review(p: Printer, *, ask: bool = True) -> Any:
    """The ``ops.policy.Review`` of a command that writes: every protected change is shown with its diff (on
    stderr); on a terminal each one not confirmed by a flag is asked about."""
    from kubectl_gitops.cli.diff_view import unified
    from kubectl_gitops.cli.prune import interactive

    def review(protected: list[ProtectedChange], changes: Mapping[ResourceKey, Change],
               waiting: list[ProtectedChange]) -> list[str]:
        p.info(p.style(f"{len(protected)} change(s) to protected objects:", "bold", p.err))
        for pc in protected:
            p.info(f"  {pc.key} ({pc.op}), protected by {pc.pattern}"
                   + ("" if pc in waiting else ": confirmed by --confirm-protected"))
            ch = changes.get(pc.key)
            if ch is not None and (ch.before is not None or ch.after is not None):
                p.echo(unified(ch, color=p.color_on(p.err)), err=True, masked=True)
        if not (ask and waiting and interactive()):
            return []
        return [pc.token for pc in waiting
                if click.confirm(f"Apply the {pc.op} of protected {pc.key}?", default=False, err=True)]

    return review


def rule_rows(rules: tuple[Rule, ...]) -> list[tuple[str, ...]]:
    def many(items: Any, none: str) -> str:
        return ", ".join(str(i) for i in items) if items else none

    return [(r.name, many(r.apps, "-"), "any" if r.namespaces is None else many(r.namespaces, "none"),
             "any" if r.allow_kinds is None else many(r.allow_kinds, "none"), many(r.deny_kinds, "-"),
             "yes" if r.cluster_scoped else "no", r.identity or "-",
             "-" if r.max_deletes is None else str(r.max_deletes), "yes" if r.require_signed else "no",
             many(r.protected, "-")) for r in rules]


RULE_HEADERS = ["rule", "apps", "namespaces", "allow kinds", "deny kinds", "cluster-scoped", "acts as",
                "max deletes", "signed", "protected"]


def rule_json(r: Rule) -> dict[str, Any]:
    return {"name": r.name, "apps": list(r.apps), "namespaces": None if r.namespaces is None else list(r.namespaces),
            "allowKinds": None if r.allow_kinds is None else [vars(k) for k in r.allow_kinds],
            "denyKinds": [vars(k) for k in r.deny_kinds], "clusterScoped": r.cluster_scoped,
            "serviceAccount": "/".join(r.service_account) if r.service_account else None,
            "maxDeletes": r.max_deletes, "requireSigned": r.require_signed,
            "protected": [vars(o) for o in r.protected]}
