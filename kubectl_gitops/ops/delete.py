"""``run_delete``: remove a whole app (``kubectl gitops delete APP``): every member, then its record.

A prune of an empty desired set, through the prune engine (engine/prune_plan.py): the same listing (only
objects labelled as the app's members), the same guards (Prune=false, Flux prune disabled, CRDs without
``--allow-crd-deletion``, Namespaces that still hold other objects, Prune=confirm, the cluster's policy:
docs/policy.md), the same order (the
reverse of the sync order), the same confirmation and the app's Lease. No repository is read: the record
says what the app is. The record is deleted last, and only when no member is left; when something was kept
or failed, the record stays so that the remaining objects are still the app's (a later delete or sync knows
them).

The app tree (ops/apptree_run.py) deletes a child app removed from its parent through this same ``run_delete``
(its context, its record namespace, ``command`` naming why), so both paths keep the same guards and the same
rule for the record.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

from kubectl_gitops.cluster.client import Cluster
from kubectl_gitops.engine.app_names import validate_app_name
from kubectl_gitops.engine.inventory import AppRef, Record, delete_record, read_record
from kubectl_gitops.engine.lease import Lease, LeaseOptions
from kubectl_gitops.engine.policy_check import Verdict
from kubectl_gitops.engine.prune import PruneOptions
from kubectl_gitops.engine.prune_plan import Confirm, PruneReport, approve, preview_prune, prune_approved
from kubectl_gitops.errors import InvalidInputError
from kubectl_gitops.events import Event, EventSink, discard
from kubectl_gitops.ops.policy import Review, enforce, guard
from kubectl_gitops.settings import Settings


@dataclass(frozen=True)
class DeleteRequest:
    app: str
    options: PruneOptions = field(default_factory=PruneOptions)
    dry_run: bool = False
    ignore_not_found: bool = False
    lease: LeaseOptions = field(default_factory=LeaseOptions)
    command: str = "delete"  # what the app's Lease says holds it (the tree: "delete (removed from its tree)")


@dataclass
class DeleteResult:
    app: AppRef
    context: str
    record: Record
    report: PruneReport | None  # None: no record (with --ignore-not-found)
    record_deleted: bool = False
    dry_run: bool = False
    requests: int = 0
    writes: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    policy: Verdict | None = None  # with a policy (docs/policy.md): what it said

    @property
    def ok(self) -> bool:
        return self.report is None or self.report.ok

    @property
    def remaining(self) -> int:
        """Members left in the cluster on purpose (kept) or not (failed, still there)."""
        if self.report is None:
            return 0
        o = self.report.outcome
        left = len(self.report.selection.kept) + len(self.report.unconfirmed)
        return left + (len(o.still_present) if o is not None else 0)


def run_delete(settings: Settings, req: DeleteRequest, *, confirm: Confirm | None = None,
               on_event: EventSink = discard, review: Review | None = None) -> DeleteResult:
    start = time.monotonic()
    name = validate_app_name(req.app)
    cluster = Cluster.connect(settings.cluster, pool_size=req.options.concurrency)
    lease: Lease | None = None
    try:
        app = AppRef(name, settings.app.record_namespace or cluster.namespace)
        policy = guard(settings.policy, app.name, cluster, on_event=on_event)  # may act as its ServiceAccount
        record = read_record(cluster, app)
        if record.exists and not req.dry_run:  # one writer per app; the record is read again under the Lease
            lease = Lease(cluster, app.name, app.namespace, command=req.command, options=req.lease,
                          on_event=on_event).hold()
            record = read_record(cluster, app)
        result = DeleteResult(app, cluster.context, record, None, dry_run=req.dry_run)
        if not record.exists:
            text = (f"app {app.name} has no record in namespace {app.namespace} on context {cluster.context}: "
                    "there is nothing to delete")
            if not req.ignore_not_found:
                raise InvalidInputError(text, hint="check the name and --record-namespace (`kubectl gitops "
                                                   "history --app NAME`), or pass --ignore-not-found")
            result.warnings.append(text)
        else:
            # emptying the app is the point; its hook objects go with it (a prune leaves them to their policy)
            options = dataclasses.replace(req.options, allow_empty=True, delete_hooks=True)
            report, listing = preview_prune(cluster, app, record, set(), options, hooks=True)
            result.report = report
            for gk in report.unserved:
                result.warnings.append(f"the record lists {gk}, which the cluster does not serve now: its objects "
                                       "cannot be listed, so the record is kept")
            if policy.active:  # as for prune, before the first delete: kinds, namespaces, maxDeletes, protected
                sel = report.selection
                result.policy = enforce(policy, {}, [c.key for c in sel.delete + sel.confirm + sel.hooks],
                                        review=None if req.dry_run else review)
            if not req.dry_run:
                approve(report, confirm)
                prune_approved(cluster, report, listing, options, on_event)
                if report.ok and result.remaining == 0 and not report.unserved:
                    interrupt_check()
                    result.record_deleted = delete_record(cluster, record) or True
                    on_event(Event("delete.record", f"deleted the record of app {app.name}",
                                   {"app": app.name, "namespace": app.namespace}))
                elif result.remaining:
                    result.warnings.append(f"{result.remaining} member(s) of app {app.name} remain (see above): its "
                                           f"record {app.namespace}/{app.parent_name} is kept so they stay the app's")
        for w in result.warnings:
            on_event(Event("warning", w))
        result.requests, result.writes = cluster.requests, cluster.writes
        result.seconds = time.monotonic() - start
        return result
    finally:
        if lease is not None:
            lease.release()
        cluster.close()


def interrupt_check() -> None:
    from kubectl_gitops.engine import interrupt

    interrupt.check("before deleting the app's record")
