"""The record writes of a run: the inventory steps a sync takes around its waves, and the record after a prune.

The order is the ApplySet algorithm (kubectl_gitops.engine.inventory), with every check before the first write:

1. ``Inventory.check`` (reads only): read the record (refuse another tool's), refuse desired objects
   owned by someone else (all conflicts at once; ``--adopt`` takes them), and with ``--prune`` list the
   members, select what to delete (only within ``--include``/``--exclude``, see ``preview_prune``), refuse
   an empty render and ask for approval.
2. ``Inventory.before_apply``: write the record's scope as old ∪ new (skipped when it already covers it).
3. the waves run (sync.py), every object labelled ``applyset.kubernetes.io/part-of``;
4. ``Inventory.after_apply``: prune (only after a successful sync), then write the exact scope and a
   history entry in one write, with the source file of every member (``data.sources``).

A process killed between any two steps leaves a record whose scope covers every labelled object.
``KUBECTL_GITOPS_FAULT=before-apply|after-apply`` kills the process at those points (tests use it to prove
this).
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable, Mapping
from dataclasses import replace

from kubectl_gitops.cluster.client import Cluster
from kubectl_gitops.engine.app_events import post_event
from kubectl_gitops.engine.app_status import AppStatus, Phase
from kubectl_gitops.engine.inventory import AppRef, HistoryEntry, Record, Scope, read_record, update_record, utc_now
from kubectl_gitops.engine.ownership import conflicts_error, ownership_conflicts, resolve_applyset_names
from kubectl_gitops.engine.prune import PruneOptions
from kubectl_gitops.engine.prune_listing import Listing
from kubectl_gitops.engine.prune_plan import Confirm, Elsewhere, PruneReport, approve, preview_prune, prune_approved
from kubectl_gitops.engine.prune_sources import EVERYTHING, FileSelection, source_of
from kubectl_gitops.engine.record_merge import RecordUpdate, merge_record, new_run_id
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.events import Event, EventSink, discard
from kubectl_gitops.model import Manifest, Obj, ResourceKey
from kubectl_gitops.settings import environment
from kubectl_gitops.source.repo import Checkout


def fault_point(name: str) -> None:
    """Die here, like ``kill -9``, when ``KUBECTL_GITOPS_FAULT`` names this point (crash-safety tests)."""
    if environment().fault == name:
        os._exit(137)


def current_user() -> str:
    """Who runs the command, for the history: ``$USER``, else the login name."""
    user = environment().user
    if user:
        return user
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def source_text(checkout: Checkout) -> str:
    """``<remote or folder> <path>``: what the record says the app is made from."""
    where = checkout.remote_url or (str(checkout.repo_root) if checkout.repo_root else "")
    return f"{where} {checkout.path}".strip()


def member_sources(manifests: Iterable[Manifest], *, release_named: bool = False) -> dict[ResourceKey, str]:
    """The recorded source of each desired object (see ``prune.source_of``; ``release_named``: --release-name
    was given); objects without one are left out."""
    out = {}
    for m in manifests:
        src = source_of(m.origin, release_named=release_named)
        if src is not None:
            out[m.key] = src
    return out


def next_sources(previous: Mapping[ResourceKey, str], desired: Mapping[ResourceKey, str],
                 report: PruneReport | None, listing: Listing | None) -> dict[ResourceKey, str]:
    """The sources to record: the previous ones (members outside a selection keep theirs), the desired
    objects' current ones, without the members this prune removed. After a complete listing, entries of
    objects that no longer exist are dropped."""
    out = {**previous, **desired}
    if report is not None and report.outcome is not None:
        for key in report.outcome.deleted + report.outcome.gone_already:
            out.pop(key, None)
    if listing is not None and not listing.unserved:
        alive = {k for k, _ in listing.members} | set(desired)
        out = {k: v for k, v in out.items() if k in alive}
    return out


def final_scope(desired: Iterable[ResourceKey], report: PruneReport | None, previous: Scope,
                listing: Listing | None) -> Scope:
    """The exact scope after a prune: the desired objects, plus every member still in the cluster
    (kept by a guard, unconfirmed, not deleted in time), plus recorded kinds the cluster does not serve
    right now (their members cannot be listed, so they must not be forgotten). Without a prune the
    scope stays the superset ``previous``."""
    if report is None or listing is None:
        return previous
    pruned = set(report.outcome.deleted + report.outcome.gone_already) if report.outcome else set()
    survivors = [k for k, _ in listing.members if k not in pruned]
    scope = Scope.of([*desired, *survivors])
    unserved = frozenset(report.unserved)
    return Scope(scope.group_kinds | unserved, scope.namespaces | (previous.namespaces if unserved else frozenset()))


class Inventory:
    """The inventory steps of one sync (see the module docstring)."""

    def __init__(self, cluster: Cluster, app: AppRef, manifests: list[Manifest], checkout: Checkout, *,
                 on_event: EventSink = discard, files: FileSelection = EVERYTHING,
                 elsewhere: Elsewhere | None = None, release_named: bool = False):
        self.cluster = cluster
        self.app = app
        self.manifests = manifests
        self.checkout = checkout
        self.on_event = on_event
        self.files = files  # --include/--exclude: prune stays within them
        self.elsewhere = elsewhere
        self.desired = {m.key for m in manifests}
        self.sources = member_sources(manifests, release_named=release_named)
        self.record = Record(app)
        self.prune_opts: PruneOptions | None = None
        self.report: PruneReport | None = None
        self.listing: Listing | None = None
        self.run_id = new_run_id()  # on this run's history entry: a re-done write never appends it twice
        self.images: tuple[str, ...] = ()  # the run's --image overrides, recorded in its history entry
        self.trigger = "sync"  # what started the run, for the status and Events: sync (push), watch, self-heal

    @property
    def labels(self) -> dict[str, str]:
        return self.app.member_labels

    def check_ownership(self, live: dict[ResourceKey, Obj], *, adopt: bool) -> None:
        """Read the record (refusing another tool's) and refuse every desired object that exists and is not
        ours, all at once, unless ``adopt``. Reads only."""
        self.record = read_record(self.cluster, self.app)
        self.on_event(Event("inventory", str(self.app), {
            "app": self.app.name, "namespace": self.app.namespace, "id": self.app.id,
            "exists": self.record.exists}))
        where = {m.key: str(m.origin) for m in self.manifests}
        conflicts = ownership_conflicts(self.desired, live, self.app.id, where=where)
        if conflicts and not adopt:
            ids = {c.owner.name for c in conflicts if c.owner is not None and c.owner.tool == "ApplySet"}
            raise conflicts_error(conflicts, self.app, resolve_applyset_names(self.cluster, ids))
        for c in conflicts:
            self.on_event(Event("adopt", f"adopting {c.describe()}", {"key": str(c.key)}))

    def last_sync(self) -> HistoryEntry | None:
        """The record's latest sync entry (read by ``check_ownership``), or None."""
        return next((h for h in reversed(self.record.history) if h.operation == "sync"), None)

    def plan_prune(self, prune: PruneOptions, *, confirm: Confirm | None = None, ask: bool = True) -> None:
        """List the members and select what to delete after the sync; refuse an empty render; ask for
        approval (``ask`` False for a dry run). Reads only: a no refuses before anything was written."""
        self.prune_opts = prune
        self.report, self.listing = preview_prune(self.cluster, self.app, self.record, self.desired, prune,
                                                  files=self.files, elsewhere=self.elsewhere)
        for gk in self.report.unserved:
            self.on_event(Event("warning", f"the record lists {gk}, which the cluster does not serve now: its "
                                           "objects cannot be listed (kept in the record)"))
        if ask:
            approve(self.report, confirm)

    def before_apply(self) -> None:
        """Write old ∪ new scope and members (and the record itself on the first sync) before anything is
        applied, unless the record already covers it: a run killed mid-way leaves a record covering what it
        wrote."""
        new = Scope.of(self.desired)
        if not (self.record.exists and self.record.scope.covers(new)):
            update = RecordUpdate(self.record, new, sources={**self.record.sources, **self.sources},
                                  source=source_text(self.checkout))
            self.record = update_record(self.cluster, self.app, lambda r: merge_record(r, update),
                                        current=self.record)
        fault_point("before-apply")

    def after_apply(self, ok: bool, counts: dict[str, int], *, message: str = "", seconds: float = 0.0,
                    ref: str | None = None, result: str | None = None, health: str = "") -> PruneReport | None:
        """Prune (after a successful sync only), then record the scope, the members, the history entry and the
        app's status in one write, merged with the fresh record, and post a Kubernetes Event about it. A prune
        that fails with a cluster error is recorded as failed (best effort) and its error raised. ``result``
        overrides the entry's result (``interrupted``); ``health`` is the app's health for the status."""
        fault_point("after-apply")
        prune_error: GitopsError | None = None
        if ok and self.report is not None and self.listing is not None and self.prune_opts is not None:
            try:
                prune_approved(self.cluster, self.report, self.listing, self.prune_opts, self.on_event)
            except GitopsError as e:
                prune_error = e
        report = self.report if ok and prune_error is None else None
        counts = dict(counts)
        if report is not None:
            counts.update(report.counts())
        prune_ok = report is None or report.ok
        if prune_error is not None:
            message = message or f"prune did not finish: {prune_error.message}"
        elif not prune_ok:
            message = message or "prune did not finish"
        entry = HistoryEntry(
            revision=0, operation="sync",
            result=result or ("succeeded" if ok and prune_ok and prune_error is None else "failed"),
            user=current_user(), context=self.cluster.context,
            commit=None if self.checkout.dirty else self.checkout.commit, ref=ref or self.checkout.ref,
            path=self.checkout.path, dirty=self.checkout.dirty, counts=counts, message=message, seconds=seconds,
            run=self.run_id, images=self.images)
        update = self._update(entry, report)
        if prune_error is None and self._already_recorded(entry, report, merge_record(self.record, update)):
            self.on_event(Event("record", "nothing changed: the record already shows this commit synced", {}))
            return self.report
        update = replace(update, status=self.next_status(entry, health))
        try:
            self.record = update_record(self.cluster, self.app, lambda r: merge_record(r, update),
                                        current=self.record)
            self.post(entry)
        except GitopsError as e:
            if prune_error is None:
                raise
            prune_error.message += f"; the failure could not be recorded in the history either ({e.message})"
        if prune_error is not None:
            raise prune_error
        return self.report

    def next_status(self, entry: HistoryEntry, health: str) -> AppStatus:
        """The app's status after this run (app_status.py)."""
        base = self.record.status or AppStatus()
        now = utc_now()
        if entry.result == "succeeded":
            return base.synced(entry.commit, now, health=health or "Healthy", by=self.trigger,
                               healed=self.trigger == "self-heal")
        return base.failed(entry.commit, now, f"{entry.result}: {entry.message}".rstrip(": "),
                           health=health or "Unknown", by=self.trigger)

    def post(self, entry: HistoryEntry) -> None:
        """The Kubernetes Event of this run on the record (best effort)."""
        commit = (entry.commit or "work tree")[:12]
        counts = ", ".join(f"{v} {k}" for k, v in sorted(entry.counts.items()) if v and k != "unchanged")
        if entry.result == "succeeded":
            reason = "SelfHealed" if self.trigger == "self-heal" else "Synced"
            text = f"{'reverted drift: ' if reason == 'SelfHealed' else ''}synced {commit}" + (f" ({counts})"
                                                                                               if counts else "")
        else:
            reason, text = "SyncFailed", f"sync of {commit} {entry.result}: {entry.message}"
        post_event(self.cluster, self.app, self.record.uid, reason, text, warning=reason == "SyncFailed",
                   instance=entry.user, on_event=self.on_event)

    def _update(self, entry: HistoryEntry, report: PruneReport | None) -> RecordUpdate:
        """This run's view of the record: exact after a prune that listed every member, else a widening."""
        base = self.record
        sources = next_sources(base.sources, self.sources, report, self.listing)
        if report is None or self.listing is None:
            return RecordUpdate(base, base.scope.union(Scope.of(self.desired)), sources=sources, entry=entry)
        pruned = frozenset(report.outcome.deleted + report.outcome.gone_already) if report.outcome else frozenset()
        return RecordUpdate(base, final_scope(self.desired, report, base.scope, self.listing), exact=True,
                            sources=sources, pruned=pruned, entry=entry)

    def _already_recorded(self, entry: HistoryEntry, report: PruneReport | None, merged: Record) -> bool:
        """A re-sync that wrote nothing (no object, no hook, no prune) of the commit the record's last sync
        already shows as succeeded adds nothing to the record, so it writes nothing: a no-op sync makes zero
        write calls. Any change, failure, other commit, path or dirty work tree is recorded."""
        if entry.result != "succeeded" or entry.dirty or (report is not None and report.approved):
            return False
        if any(entry.counts.get(action) for action in ("created", "configured", "hook", "failed", "pruned")):
            return False
        last = next((h for h in reversed(self.record.history) if h.operation == "sync"), None)
        status = self.record.status
        if status is None or status.phase != Phase.SYNCED or status.last_synced_commit != entry.commit:
            return False  # the status must say so first (drift reported, a newer commit seen, older records)
        return (self.record.exists and last is not None and last.result == "succeeded"
                and last.commit == entry.commit and last.path == entry.path and last.images == entry.images
                # the stored scope always holds the record's own namespace (ApplySet): compare it that way
                and merged.scope.union(Scope(frozenset(), frozenset({self.app.namespace}))) == self.record.scope
                and merged.sources == self.record.sources)


def record_prune(cluster: Cluster, record: Record, report: PruneReport, listing: Listing, checkout: Checkout,
                 desired: set[ResourceKey], seconds: float, *,
                 sources: Mapping[ResourceKey, str] | None = None, run: str = "") -> Record:
    """After ``kubectl gitops prune``: the exact scope, the sources (``sources``: of the desired objects that
    are members) and a history entry, in one write merged with the fresh record (``record`` is the one the
    prune listed)."""
    members = {k for k, _ in listing.members}
    found = {k: v for k, v in (sources or {}).items() if k in members}
    entry = HistoryEntry(revision=0, operation="prune", result="succeeded" if report.ok else "failed",
                         user=current_user(), context=cluster.context, commit=checkout.commit, ref=checkout.ref,
                         path=checkout.path, counts=report.counts(), seconds=seconds,
                         message="" if report.ok else "some objects were not deleted", run=run or new_run_id())
    outcome = report.outcome
    update = RecordUpdate(record, final_scope(desired, report, record.scope, listing), exact=True,
                          sources=next_sources(record.sources, found, report, listing),
                          pruned=frozenset(outcome.deleted + outcome.gone_already) if outcome else frozenset(),
                          entry=entry)
    return update_record(cluster, record.app, lambda r: merge_record(r, update), current=record)
