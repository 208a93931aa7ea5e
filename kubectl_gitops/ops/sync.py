"""``run_sync``: render, validate and dry-run everything, then apply wave by wave (sync.py).

GitOps discipline: a sync applies committed content (``--ref``, else HEAD). A dirty work tree is refused
unless ``--allow-dirty`` (then the work tree is applied, and the record says so). A commit that is on no
remote branch gets a warning: it was probably never pushed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kubectl_gitops.cluster.client import Cluster
from kubectl_gitops.engine import interrupt
from kubectl_gitops.engine.annotations import runs_as_hook
from kubectl_gitops.engine.diff import Change
from kubectl_gitops.engine.lease import Lease, LeaseOptions
from kubectl_gitops.engine.plan import Plan, build_plan, plan_annotation_checks
from kubectl_gitops.engine.policy_check import Verdict
from kubectl_gitops.engine.prune import PruneOptions
from kubectl_gitops.engine.prune_plan import Confirm, PruneReport, approve
from kubectl_gitops.engine.run_record import Inventory
from kubectl_gitops.engine.sync import Syncer
from kubectl_gitops.engine.sync_model import SyncConfig, SyncOutcome
from kubectl_gitops.errors import InvalidInputError, RefusedError
from kubectl_gitops.events import Event, EventSink, discard
from kubectl_gitops.model import ResourceKey
from kubectl_gitops.ops.app import file_selection, resolve_app, whole_repository
from kubectl_gitops.ops.common import CompareOptions, Loaded, applied_object, compute_changes, load, respect_ignored
from kubectl_gitops.ops.failure import record_outcome
from kubectl_gitops.ops.policy import Guard, Review, change_ops, check, enforce, guard, require_signed
from kubectl_gitops.settings import Settings
from kubectl_gitops.source.desired import Desired
from kubectl_gitops.source.images import canonical, reverted
from kubectl_gitops.source.repo import Checkout, uncommitted_path

# (changes, keys of hooks, the prune's report or None, ask?) -> None; raising RefusedError stops the sync unchanged
ReviewChanges = Callable[[list[Change], set[ResourceKey], PruneReport | None, bool], None]


@dataclass(frozen=True)
class SyncRequest:
    compare: CompareOptions = field(default_factory=CompareOptions)
    config: SyncConfig = field(default_factory=SyncConfig)
    allow_dirty: bool = False
    dry_run: bool = False
    adopt: bool = False  # take over existing objects owned by nobody or by another tool
    prune: PruneOptions | None = None  # --prune: delete members no longer desired after the last wave
    lease: LeaseOptions = field(default_factory=LeaseOptions)  # one writer per app (--lock-timeout)
    review: Review | None = None  # shows protected changes, may approve them on a terminal (see ops.policy)
    trigger: str = "sync"  # what started it, for the app's status and Events: sync, watch, self-heal
    # --diff-changes: sees every change (and the prune) before the first write; raises to refuse (see ReviewChanges)
    review_changes: ReviewChanges | None = None


@dataclass
class SyncResult:
    checkout: Checkout
    plan: Plan
    changes: dict[ResourceKey, Change]
    outcome: SyncOutcome | None  # None for --dry-run
    context: str
    writes: int = 0
    dry_runs: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    prune: PruneReport | None = None  # with --prune
    policy: Verdict | None = None  # with a policy: what it said

    @property
    def ok(self) -> bool:
        return (self.outcome is None or self.outcome.ok) and (self.prune is None or self.prune.ok)


def _check_dirty(settings: Settings) -> None:
    if settings.source.ref is not None:
        return
    path = uncommitted_path(settings.source)
    if path is not None:
        raise RefusedError(f"the work tree has uncommitted changes under {path!r}: sync applies committed content",
                           hint="commit (and push) the changes, sync a committed --ref, or pass --allow-dirty to "
                                "apply the work tree as it is")


def _warn_reverted_images(inventory: Inventory, on_event: EventSink) -> None:
    """Before any write: say which image overrides of the app's last sync this sync reverts (it has no --image
    for them, so their objects get the repository's image again)."""
    last = inventory.last_sync()
    if last is None or not last.images:
        return
    for text in reverted(last.images, inventory.images):
        commit = f"commit {last.commit[:12]}, " if last.commit else ""
        on_event(Event("warning", f"this sync reverts the image override --image {text} of the app's last sync "
                                  f"(revision {last.revision}, {commit}by {last.user or 'unknown'} at {last.time}): "
                                  "its objects get the repository's image again; pass the same --image to keep it",
                       {"image": text, "revision": last.revision}))


def run_sync(settings: Settings, req: SyncRequest, *, on_event: EventSink = discard,
             confirm: Confirm | None = None, held: Lease | None = None) -> SyncResult:
    """``held``: the app's Lease, already held by the caller (the ``sync --watch`` loop holds it across runs);
    this run then writes under it instead of taking its own."""
    start = time.monotonic()
    if not req.allow_dirty:
        _check_dirty(settings)
    leases: list[Lease] = []
    guards: list[Guard] = []

    def peek(desired: Desired, cluster: Cluster) -> None:  # the app's Lease, as it was before live reads
        app = resolve_app(settings, desired.checkout, cluster)
        # the policy first: from here on the run may act as the rule's ServiceAccount (reads, Lease, writes)
        guards.append(guard(settings.policy, app.name, cluster, on_event=on_event))
        require_signed(settings.policy, guards[-1], desired.checkout, on_event=on_event)
        if req.dry_run or held is not None:  # writes nothing: no Lease; or the caller holds it (sync --watch)
            return
        leases.append(Lease(cluster, app.name, app.namespace, command=f"sync {desired.checkout.short_commit}",
                            options=req.lease, on_event=on_event).peek())

    cluster = Cluster.connect(settings.cluster, pool_size=req.compare.concurrency)
    try:  # the connection is closed however the run ends (after the Lease is released)
        loaded = load(settings, committed_only=not req.allow_dirty, on_event=on_event,
                      extra_checks=plan_annotation_checks, workers=req.compare.concurrency, cluster=cluster,
                      before_live=peek)
        if req.dry_run:  # writes nothing: no Lease
            return _run_sync(settings, req, loaded, guards[0], start, on_event=on_event, confirm=confirm)
        if held is not None:
            held.check()
            cluster.write_guard = held.check  # a Lease lost meanwhile stops every write of this run
            return _run_sync(settings, req, loaded, guards[0], start, on_event=on_event, confirm=confirm)
        with leases[0] as lease:
            if lease.stale:  # another run held the app since we began reading: read it again, after that run
                loaded = load(settings, committed_only=not req.allow_dirty, on_event=on_event,
                              extra_checks=plan_annotation_checks, workers=req.compare.concurrency, cluster=cluster)
            return _run_sync(settings, req, loaded, guards[0], start, on_event=on_event, confirm=confirm)
    finally:
        cluster.close()


def _run_sync(settings: Settings, req: SyncRequest, loaded: Loaded, policy: Guard, start: float, *,
              on_event: EventSink, confirm: Confirm | None) -> SyncResult:
    """The rest of ``run_sync``, after loading (and, unless a dry run, while holding the app's Lease)."""
    if loaded.unmatched_resources and req.prune is None:
        raise InvalidInputError(
            f"--resource {', '.join(loaded.unmatched_resources)} matches no object rendered from "
            f"{loaded.desired.checkout.describe()}; nothing was changed",
            hint="check GROUP:KIND:[NAMESPACE/]NAME (kubectl gitops waves lists the objects); an object that left "
                 "Git is deleted with --prune")
    plan = build_plan(loaded.desired.manifests, checked=True)
    if policy.active:  # where and what: refused before any dry run; protected changes are decided below
        refusal = check(policy, {m.key: "unchanged" for m in loaded.desired.manifests}).refusal()
        if refusal is not None:
            raise refusal
    inventory = Inventory(loaded.cluster, resolve_app(settings, loaded.desired.checkout, loaded.cluster),
                          loaded.desired.manifests, loaded.desired.checkout, on_event=on_event,
                          files=file_selection(settings, loaded.desired.checkout),
                          elsewhere=whole_repository(settings.source, committed_only=not req.allow_dirty,
                                                     default_namespace=loaded.cluster.namespace,
                                                     resolve=loaded.cluster.discovery.scope),
                          release_named=bool(settings.source.helm_release))
    inventory.images = canonical(settings.source.images)
    inventory.trigger = req.trigger
    computed = compute_changes(loaded, req.compare, labels=inventory.labels, on_event=on_event)
    changes = {c.key: c for c in computed.changes}
    checkout = loaded.desired.checkout
    result = SyncResult(checkout, plan, changes, None, loaded.cluster.context, dry_runs=computed.dry_runs)
    if checkout.on_remote is False:
        result.warnings.append(f"commit {checkout.short_commit} is not on any remote branch: did you forget to push?")
    if checkout.dirty:
        result.warnings.append("applying an uncommitted work tree (--allow-dirty): the record cannot point at a commit")
    for w in result.warnings:
        on_event(Event("warning", w))
    inventory.check_ownership(loaded.live, adopt=req.adopt)
    _warn_reverted_images(inventory, on_event)
    if computed.terminating:
        raise RefusedError(
            f"{len(computed.terminating)} object(s) of the repository are being deleted in the cluster; "
            "nothing was changed", details=[str(k) for k in computed.terminating],
            hint="wait until they are gone (kubectl get ... shows them Terminating), then sync again")
    if computed.conflicts and not req.compare.force_conflicts:
        raise RefusedError(
            f"{len(computed.conflicts)} object(s) have fields owned by another field manager; nothing was changed",
            details=[f"{k}: {msg}" for k, msg in computed.conflicts.items()],
            hint="someone changed these fields outside Git; re-run with --force-conflicts to take them back")
    if req.prune is not None:
        inventory.plan_prune(req.prune, confirm=confirm, ask=not (req.dry_run or policy.active))
        result.prune = inventory.report
    if policy.active:  # everything at once, before the first write: violations, prune budget, protected objects
        sel = inventory.report.selection if inventory.report is not None else None
        deletes = [c.key for c in sel.delete + sel.confirm + sel.hooks] if sel is not None else []
        result.policy = enforce(policy, change_ops(computed.changes), deletes, changes=changes,
                                review=None if req.dry_run else req.review)
        if inventory.report is not None and not req.dry_run:
            approve(inventory.report, confirm)
    if req.review_changes is not None:  # kapp's --diff-changes: everything shown (and asked) before the first write
        hooks = {m.key for m in loaded.desired.manifests if runs_as_hook(m)}
        req.review_changes(computed.changes, hooks, inventory.report, not req.dry_run)
    if req.dry_run:
        result.seconds = time.monotonic() - start
        return result
    commit = checkout.commit if not checkout.dirty else None
    rules = req.compare.ignore_rules if req.compare.respect_ignored else ()
    objects = {m.key: respect_ignored(applied_object(m, commit, inventory.labels), loaded.live.get(m.key), rules)
               for m in loaded.desired.manifests}
    interrupt.check("before the first write")
    inventory.before_apply()
    syncer = Syncer(loaded.cluster, plan, types=dict(loaded.types), objects=objects, existing=set(loaded.live),
                    needs_apply=lambda step: changes[step.key].changed, config=req.config, on_event=on_event,
                    run_id=inventory.run_id)
    result.outcome = syncer.run()
    result.prune = record_outcome(inventory, result.outcome, seconds=time.monotonic() - start, ref=settings.source.ref)
    result.writes = loaded.cluster.writes
    result.seconds = time.monotonic() - start
    return result
