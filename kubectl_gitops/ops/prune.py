"""``run_prune``: delete the app's members that are no longer in Git (``kubectl gitops prune``).

Reads committed content (``--ref``, else HEAD), like sync: prune removes what left *Git*, not what is
missing from an uncommitted work tree. The desired objects are only rendered and validated (no live
reads, no dry runs), so a no-op prune costs one GET of the record and one LIST per group-kind and
namespace of its scope, nothing else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from kubectl_gitops.cluster.client import Cluster
from kubectl_gitops.engine.inventory import AppRef, Record, read_record
from kubectl_gitops.engine.lease import Lease, LeaseOptions
from kubectl_gitops.engine.plan import plan_annotation_checks
from kubectl_gitops.engine.policy_check import Verdict
from kubectl_gitops.engine.prune import PruneOptions
from kubectl_gitops.engine.prune_plan import Confirm, PruneReport, approve, preview_prune, prune_approved
from kubectl_gitops.engine.run_record import member_sources, record_prune
from kubectl_gitops.events import Event, EventSink, discard
from kubectl_gitops.ops.app import file_selection, resolve_app, whole_repository
from kubectl_gitops.ops.policy import Review, enforce, guard, require_signed
from kubectl_gitops.secrets import decrypt_if_encrypted
from kubectl_gitops.settings import Settings
from kubectl_gitops.source.desired import load_desired
from kubectl_gitops.source.repo import Checkout


@dataclass(frozen=True)
class PruneRequest:
    options: PruneOptions = field(default_factory=PruneOptions)
    dry_run: bool = False
    lease: LeaseOptions = field(default_factory=LeaseOptions)  # one writer per app (--lock-timeout)


@dataclass
class PruneResult:
    app: AppRef
    checkout: Checkout
    context: str
    record: Record
    report: PruneReport | None  # None: the app has no record yet
    dry_run: bool = False
    desired: int = 0
    requests: int = 0
    writes: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    policy: Verdict | None = None  # with a policy: what it said

    @property
    def ok(self) -> bool:
        return self.report is None or self.report.ok


def run_prune(settings: Settings, req: PruneRequest, *, confirm: Confirm | None = None,
              on_event: EventSink = discard, review: Review | None = None) -> PruneResult:
    start = time.monotonic()
    cluster = Cluster.connect(settings.cluster, pool_size=req.options.concurrency)
    lease: Lease | None = None
    try:
        discovery = cluster.discovery
        desired = load_desired(settings.source, committed_only=True, default_namespace=cluster.namespace,
                               resolve=discovery.scope, transform=decrypt_if_encrypted,
                               extra_checks=plan_annotation_checks)
        checkout = desired.checkout
        on_event(Event("source", checkout.describe(), {"commit": checkout.commit, "objects": len(desired.manifests)}))
        app = resolve_app(settings, checkout, cluster)
        policy = guard(settings.policy, app.name, cluster, on_event=on_event)  # may act as its ServiceAccount
        require_signed(settings.policy, policy, checkout, on_event=on_event)
        if not req.dry_run:  # one writer per app: held before the record is read
            lease = Lease(cluster, app.name, app.namespace, command=f"prune {checkout.short_commit}",
                          options=req.lease, on_event=on_event).hold()
        record = read_record(cluster, app)
        result = PruneResult(app, checkout, cluster.context, record, None, dry_run=req.dry_run,
                             desired=len(desired.manifests))
        if not record.exists:
            result.warnings.append(f"app {app.name} has no record in namespace {app.namespace}: it was never "
                                   "synced there, so it has nothing to prune (check --app and --record-namespace)")
        else:
            keys = {m.key for m in desired.manifests}
            report, listing = preview_prune(
                cluster, app, record, keys, req.options, files=file_selection(settings, checkout),
                elsewhere=whole_repository(settings.source, committed_only=True, default_namespace=cluster.namespace,
                                           resolve=discovery.scope), hooks=True)
            result.report = report
            for gk in report.unserved:
                result.warnings.append(f"the record lists {gk}, which the cluster does not serve now: "
                                       "its objects cannot be listed (kept in the record)")
            if policy.active:  # before the first delete: kinds, namespaces, maxDeletes, protected objects
                sel = report.selection
                result.policy = enforce(policy, {}, [c.key for c in sel.delete + sel.confirm + sel.hooks],
                                        review=None if req.dry_run else review)
            if not req.dry_run:
                approve(report, confirm)
                prune_approved(cluster, report, listing, req.options, on_event)
                if report.outcome is not None:  # a no-op prune writes nothing
                    result.record = record_prune(cluster, record, report, listing, checkout, keys,
                                                 time.monotonic() - start, sources=member_sources(
                                                     desired.manifests,
                                                     release_named=bool(settings.source.helm_release)))
        for w in result.warnings:
            on_event(Event("warning", w))
        result.requests, result.writes = cluster.requests, cluster.writes
        result.seconds = time.monotonic() - start
        return result
    finally:
        if lease is not None:
            lease.release()
        cluster.close()

