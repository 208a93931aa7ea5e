"""``run_diff``: what a sync would change, from any revision, against the live cluster."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from kubectl_gitops.cluster.client import Cluster
from kubectl_gitops.engine.diff import Change
from kubectl_gitops.engine.plan import build_plan, plan_annotation_checks, runs_as_hook
from kubectl_gitops.engine.policy_check import Verdict
from kubectl_gitops.events import EventSink, discard
from kubectl_gitops.model import Manifest
from kubectl_gitops.ops.app import file_selection, note_ownership, pending_deletions, resolve_app
from kubectl_gitops.ops.common import CompareOptions, compute_changes, load
from kubectl_gitops.ops.policy import Guard, change_ops, check, guard
from kubectl_gitops.settings import Settings
from kubectl_gitops.source.desired import Desired
from kubectl_gitops.source.repo import Checkout


@dataclass
class DiffResult:
    changes: list[Change]  # every object but hooks, in plan order
    checkout: Checkout
    context: str
    dry_runs: int = 0
    requests: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    hooks: list[Change] = field(default_factory=list)  # validated by a dry run, never counted as differences
    manifests: list[Manifest] = field(default_factory=list)  # the desired objects compared
    policy: Verdict | None = None  # with a policy: its violations and the protected objects changed

    @property
    def differences(self) -> list[Change]:
        return [c for c in self.changes if c.changed and not c.ignored_extraneous]


def run_diff(settings: Settings, opts: CompareOptions, *, on_event: EventSink = discard) -> DiffResult:
    """Render and validate the repository, then compare it with the cluster. Writes nothing to the cluster."""
    guards: list[Guard] = []

    def before_live(desired: Desired, cluster: Cluster) -> None:  # reads act as the policy's ServiceAccount
        guards.append(guard(settings.policy, resolve_app(settings, desired.checkout, cluster).name, cluster,
                            on_event=on_event))

    loaded = load(settings, committed_only=False, on_event=on_event, extra_checks=plan_annotation_checks,
                  workers=opts.concurrency, before_live=before_live)
    t0 = time.monotonic()
    try:
        if guards and guards[0].active:  # refused as sync refuses it, before any dry run (which could fail)
            refusal = check(guards[0], {m.key: "unchanged" for m in loaded.desired.manifests}).refusal()
            if refusal is not None:
                raise refusal
        app = resolve_app(settings, loaded.desired.checkout, loaded.cluster)
        computed = compute_changes(loaded, opts, labels=app.member_labels, on_event=on_event)
        keys = {m.key for m in loaded.desired.manifests}
        note_ownership(computed.changes, loaded.live, app)
        computed.changes.extend(pending_deletions(loaded.cluster, app, keys, on_event=on_event,
                                                  prefetched=loaded.listed,  # members: from the same LISTs
                                                  files=file_selection(settings, loaded.desired.checkout),
                                                  still_in_git=loaded.desired.unselected))
    finally:
        loaded.cluster.close()
    verdict = None
    if guards and guards[0].active:
        verdict = check(guards[0], change_ops(computed.changes),
                        [c.key for c in computed.changes if c.op.value == "delete"])
        changed = {c.key: c for c in computed.changes}
        for p in verdict.protected:
            ch = changed[p.key]
            text = f"protected ({p.pattern}): sync needs --confirm-protected {p.token}"
            ch.note = f"{ch.note}; {text}" if ch.note else text
    loaded.timings["compare"] = time.monotonic() - t0
    # Hooks are created on every sync (and often deleted after), so comparing them with live says nothing.
    order = {step.key: step.order for step in build_plan(loaded.desired.manifests, checked=True).steps}
    by_key = {m.key: m for m in loaded.desired.manifests}
    ordered = sorted(computed.changes, key=lambda c: order.get(c.key, len(order)))
    hooks = [c for c in ordered if c.key in by_key and runs_as_hook(by_key[c.key])]
    objects = [c for c in ordered if not (c.key in by_key and runs_as_hook(by_key[c.key]))]
    return DiffResult(objects, loaded.desired.checkout, loaded.cluster.context, dry_runs=computed.dry_runs,
                      requests=loaded.cluster.requests, timings=loaded.timings, hooks=hooks,
                      manifests=loaded.desired.manifests, policy=verdict)
