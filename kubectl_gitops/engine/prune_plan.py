"""A prune's plan: list and select what to delete (reads only), ask for approval, delete; ``PruneReport`` holds it.

``preview_prune`` lists the members and selects (only within ``--include``/``--exclude``), refusing an empty
render; ``approve`` asks the caller's ``Confirm``; ``prune_approved`` deletes what was approved. Used by a
sync with ``--prune`` (run_record.Inventory) and by ``kubectl gitops prune`` (ops/prune.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from kubectl_gitops.cluster.client import Cluster
from kubectl_gitops.engine.inventory import AppRef, Record
from kubectl_gitops.engine.prune import (
    Candidate,
    PruneOptions,
    Selection,
    check_attributed,
    check_not_empty,
    keep_still_in_git,
    namespace_candidates,
    select,
)
from kubectl_gitops.engine.prune_delete import PruneOutcome, execute
from kubectl_gitops.engine.prune_hooks import find_leftover_hooks
from kubectl_gitops.engine.prune_listing import Listing, list_members, list_namespace_contents
from kubectl_gitops.engine.prune_sources import EVERYTHING, FileSelection
from kubectl_gitops.errors import RefusedError
from kubectl_gitops.events import EventSink
from kubectl_gitops.model import Obj, ResourceKey


class Approval(Enum):
    NO = "no"
    YES = "yes"  # delete the selection, not the Prune=confirm objects
    YES_ALL = "all"  # the Prune=confirm objects too


# The CLI decides (prompt on a terminal, --yes, refusal); the core never asks by itself.
Confirm = Callable[[Selection], Approval]


@dataclass
class PruneReport:
    """What prune found and did."""

    app: AppRef
    selection: Selection
    approved: list[Candidate] = field(default_factory=list)
    outcome: PruneOutcome | None = None  # None: dry run, or nothing to delete
    unserved: list[str] = field(default_factory=list)
    lists: int = 0

    @property
    def unconfirmed(self) -> list[Candidate]:
        approved = {c.key for c in self.approved}
        return [c for c in self.selection.confirm if c.key not in approved]

    @property
    def ok(self) -> bool:
        return self.outcome is None or self.outcome.ok

    def counts(self) -> dict[str, int]:
        out = {"pruned": len(self.outcome.deleted) if self.outcome else 0, "kept": len(self.selection.kept)}
        if self.outcome and self.outcome.still_present:
            out["pruneFailed"] = len(self.outcome.still_present)
        return out


# Where each object of the whole repository is (``str(origin)``), rendered without --include/--exclude.
Elsewhere = Callable[[], Mapping[ResourceKey, str]]


def selection_covers(record: Record, files: FileSelection,
                     members: Iterable[tuple[ResourceKey, Obj]] = ()) -> Callable[[ResourceKey], bool | None] | None:
    """``covers(member)`` of a prune: None (everything) without --include/--exclude, -l and --resource. With -l
    (``files.selector``) a member whose live labels (from ``members``) do not match is outside; with
    --resource one that no spec names."""
    if not files.narrowed:
        return None
    outside: set[ResourceKey] = set()
    members = list(members)
    if files.selector:
        from kubectl_gitops.source.labels import parse_selector

        selector = parse_selector(files.selector)
        outside = {k for k, obj in members if not selector.matches(obj)}
    if files.resources:  # --resource: never a prune outside the named objects
        from kubectl_gitops.source.resources import matches_any, parse_resources

        specs = parse_resources(files.resources)
        outside |= {k for k, _ in members if not matches_any(specs, k)}

    def covers(key: ResourceKey) -> bool | None:
        if key in outside:
            return False
        return files.covers(record.sources.get(key)) if files.active else True

    return covers


def preview_prune(cluster: Cluster, app: AppRef, record: Record, desired: set[ResourceKey], opts: PruneOptions,
                  *, check_namespaces: bool = True, metadata_only: bool = True, files: FileSelection = EVERYTHING,
                  elsewhere: Elsewhere | None = None, hooks: bool = False) -> tuple[PruneReport, Listing]:
    """List the members (one LIST per recorded group-kind and namespace) and select what to delete.
    Reads only. Refuses an empty render (``check_not_empty``).

    With ``--include``/``--exclude`` (``files`` active) only members whose recorded source the selection
    covers are considered; members without a recorded source make it refuse (``check_attributed``); and
    when something would be deleted, ``elsewhere()`` renders the whole repository: a candidate still in it
    (moved to a file outside the selection) is kept. A failing whole render refuses the prune."""
    listing = list_members(cluster, app, record.scope, metadata_only=metadata_only, workers=opts.concurrency)
    covers = selection_covers(record, files, listing.members)
    contents = None
    if check_namespaces:
        doomed = namespace_candidates(listing.members, desired, covers)
        contents = list_namespace_contents(cluster, doomed, workers=opts.concurrency) if doomed else {}
    selection = select(listing.members, desired, app.id, opts, namespace_contents=contents, covers=covers)
    if hooks:  # `prune` also deletes hook copies left by other runs (prune.find_leftover_hooks)
        find_leftover_hooks(cluster, selection, listing.types, workers=opts.concurrency)
    check_attributed(selection, files, app)
    if files.narrowed and not selection.empty and elsewhere is not None:
        keep_still_in_git(selection, whole_repository_or_refuse(elsewhere, selection, files))
    if not files.resources:  # --resource names what may go: an empty render is not a wrong path there
        check_not_empty(len(desired), selection, opts, app)
    return PruneReport(app, selection, unserved=listing.unserved, lists=listing.lists), listing


def whole_repository_or_refuse(elsewhere: Elsewhere, selection: Selection,
                               files: FileSelection) -> Mapping[ResourceKey, str]:
    from kubectl_gitops.errors import GitopsError

    try:
        return elsewhere()
    except GitopsError as e:
        n = len(selection.delete) + len(selection.confirm)
        raise RefusedError(
            f"prune with {files.describe()}: cannot check that the {n} object(s) it would delete left the "
            f"repository, because rendering the files outside the selection failed ({type(e).__name__}); "
            "nothing was deleted",
            hint="run `kubectl gitops waves` without --include/--exclude to see why, or prune without "
                 "--include/--exclude") from e


def approve(report: PruneReport, confirm: Confirm | None) -> None:
    """Ask ``confirm`` (when there is something to delete); a no refuses the whole command."""
    sel = report.selection
    if sel.empty:
        return
    answer = Approval.YES if confirm is None else confirm(sel)
    if answer is Approval.NO:
        raise RefusedError("prune was not confirmed; nothing was changed")
    report.approved = sel.approved(include_confirm=answer is Approval.YES_ALL)


def prune_approved(cluster: Cluster, report: PruneReport, listing: Listing, opts: PruneOptions,
                   on_event: EventSink) -> None:
    if report.approved:
        report.outcome = execute(cluster, report.app, report.approved, listing.types, opts, on_event=on_event)
