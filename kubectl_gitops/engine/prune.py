"""Prune: delete the app's members that left Git, and never anything else.

What is a candidate
    A live object carrying our ``applyset.kubernetes.io/part-of`` label, found by one LIST per group-kind
    and namespace of the record's scope (inventory.py), whose key is not in the desired set. Objects
    without our label are never even listed.

What is never deleted (``Selection.kept``, each with the reason)
    * ``argocd.argoproj.io/sync-options: Prune=false`` and ``kustomize.toolkit.fluxcd.io/prune: disabled``;
    * hooks (``argocd.argoproj.io/hook``, mapped Helm hooks): their delete policy owns their lifecycle;
    * a ``CustomResourceDefinition`` unless ``allow_crd_deletion``: deleting it deletes every custom
      resource of that kind in the whole cluster, whoever made them;
    * a ``Namespace`` that still holds anything this prune does not delete: objects of other apps or of
      nobody, objects of this app still in Git or kept. Objects the cluster makes on its own (the
      ``default`` ServiceAccount, ``kube-root-ca.crt``, Events, Endpoints of a Service, anything with an
      ``ownerReference``) do not count. This is the guard Argo CD lacks (argo-cd#17440).
    * ``Prune=confirm`` objects wait in ``Selection.confirm`` until confirmed (``--confirm-prune``, or a
      yes on a terminal).

Within the selection (``FileSelection``)
    With ``--include``/``--exclude`` only part of the repository is rendered, so "not desired" no longer
    means "left Git". A member is then a candidate only when the file it was rendered from (its *source*,
    recorded per member by sync, see ``prune_sources.source_of``) would have been selected:
    ``FileSelection.covers``.
    Members outside the selection are not considered at all (``Selection.outside``); members whose source
    is unknown (records of older versions, a crash between apply and record) are collected in
    ``Selection.unattributed`` and the caller refuses the prune rather than guess
    (``check_attributed``). The sources and the glob rule are in prune_sources.py.

Order
    The reverse of the sync order: higher waves first, and within a wave the reverse of the kind order
    (workloads before Services before ConfigMaps, custom resources before their CRD, Namespaces last);
    ``PruneLast=true`` objects after all others. Each batch (same wave and kind) is deleted concurrently
    and waited for until it is gone before the next starts.

This module is pure: what a prune selects. Listing the members is prune_listing.py, the deletion
prune_delete.py, leftover hook copies prune_hooks.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kubectl_gitops.engine.annotations import runs_as_hook, sync_options, wave
from kubectl_gitops.engine.inventory import LABEL_PART_OF, AppRef
from kubectl_gitops.engine.plan import UNKNOWN_KIND_ORDER, kind_rank
from kubectl_gitops.errors import RefusedError
from kubectl_gitops.model import ANN_FLUX_PRUNE, Manifest, Obj, Origin, ResourceKey

if TYPE_CHECKING:
    from kubectl_gitops.engine.prune_sources import FileSelection

CRD_KEY = ("apiextensions.k8s.io", "CustomResourceDefinition")

# Objects the cluster creates in every namespace by itself: they never keep a Namespace alive.
_AUTO_CREATED = frozenset({("", "ServiceAccount", "default"), ("", "ConfigMap", "kube-root-ca.crt")})
IGNORED_KINDS = frozenset({("", "Event"), ("events.k8s.io", "Event")})


@dataclass(frozen=True)
class PruneOptions:
    propagation: str = "foreground"  # foreground | background | orphan
    allow_crd_deletion: bool = False
    confirm_prune: bool = False  # Prune=confirm objects are confirmed up front
    allow_empty: bool = False  # prune even when the rendered set is empty
    timeout: float = 300.0  # waiting until deleted objects are gone
    poll_interval: float = 1.0
    concurrency: int = 8
    delete_hooks: bool = False  # `delete APP`: the app goes away, its hook objects with it (as in Argo CD)


@dataclass
class Candidate:
    """A member of the app that is no longer desired."""

    key: ResourceKey
    obj: Obj  # the live object (metadata at least)
    wave: int = 0
    kind_rank: int = UNKNOWN_KIND_ORDER
    prune_last: bool = False
    needs_confirm: bool = False
    reason: str = ""  # why it is kept; "" when it is (or may be) deleted
    note: str = ""

    @property
    def uid(self) -> str | None:
        return (self.obj.get("metadata") or {}).get("uid")

    @property
    def batch_key(self) -> tuple[bool, int, int]:
        return (self.prune_last, self.wave, self.kind_rank)

    def to_json(self) -> dict[str, Any]:
        k = self.key
        return {"group": k.group, "kind": k.kind, "namespace": k.namespace, "name": k.name, "wave": self.wave,
                "pruneLast": self.prune_last, "confirm": self.needs_confirm, "reason": self.reason, "note": self.note}


@dataclass
class Selection:
    """What a prune would do. ``delete`` and ``confirm`` are in deletion order."""

    delete: list[Candidate] = field(default_factory=list)
    confirm: list[Candidate] = field(default_factory=list)  # Prune=confirm, not confirmed yet
    kept: list[Candidate] = field(default_factory=list)
    hooks: list[Candidate] = field(default_factory=list)  # leftover hook copies of other runs (hooks.py)
    outside: int = 0  # members not desired whose source is outside --include/--exclude: not considered
    unattributed: list[ResourceKey] = field(default_factory=list)  # not desired, source unknown (see covers)

    @property
    def empty(self) -> bool:
        return not self.delete and not self.confirm and not self.hooks

    def approved(self, include_confirm: bool) -> list[Candidate]:
        """The objects to delete, in order, with the Prune=confirm ones when they were confirmed; leftover
        hooks after the rest."""
        return order_for_deletion(self.delete + (self.confirm if include_confirm else [])) + self.hooks

    def to_json(self) -> dict[str, Any]:
        return {"delete": [c.to_json() for c in self.delete], "confirm": [c.to_json() for c in self.confirm],
                "kept": [c.to_json() for c in self.kept], "leftoverHooks": [c.to_json() for c in self.hooks],
                "outsideSelection": self.outside}




def batches(candidates: list[Candidate]) -> list[list[Candidate]]:
    """Consecutive candidates of the same (PruneLast, wave, kind): deleted together, then waited for."""
    out: list[list[Candidate]] = []
    for c in candidates:
        if out and out[-1][0].batch_key == c.batch_key:
            out[-1].append(c)
        else:
            out.append([c])
    return out


def _forward_key(c: Candidate) -> tuple[Any, ...]:
    k = c.key
    return (c.wave, c.kind_rank, k.name, k.namespace, k.group, k.kind)


def order_for_deletion(items: Iterable[Candidate]) -> list[Candidate]:
    """The reverse of the sync order (see the module docstring); PruneLast objects after all others."""
    reverse = sorted(items, key=_forward_key, reverse=True)
    return [c for c in reverse if not c.prune_last] + [c for c in reverse if c.prune_last]


def candidate(obj: Obj, key: ResourceKey | None = None) -> Candidate:
    """Wrap a live member with what ordering and the guards need (wave, kind rank, sync options)."""
    m = Manifest(obj, Origin("<cluster>"))
    opts = sync_options(m)
    return Candidate(key=key or m.key, obj=obj, wave=wave(m), kind_rank=kind_rank(m.kind),
                     prune_last=opts.prune_last, needs_confirm=opts.prune_confirm)


def kept_reason(c: Candidate, opts: PruneOptions) -> str:
    """Why this member must not be deleted (the per-object guards), or ``""``."""
    m = Manifest(c.obj, Origin("<cluster>"))
    if not sync_options(m).prune and not sync_options(m).prune_confirm:
        return "Prune=false (argocd.argoproj.io/sync-options)"
    if str(m.annotations.get(ANN_FLUX_PRUNE, "")).lower() == "disabled":
        return f"{ANN_FLUX_PRUNE}: disabled"
    if runs_as_hook(m) and not opts.delete_hooks:
        return "a hook: its delete policy removes it, prune never does"
    if (c.key.group, c.key.kind) == CRD_KEY and not opts.allow_crd_deletion:
        return ("a CustomResourceDefinition: deleting it deletes every object of its kind in the cluster; "
                "pass --allow-crd-deletion to prune it")
    return ""


def _is_namespace(key: ResourceKey) -> bool:
    return key.group == "" and key.kind == "Namespace"


def namespace_blockers(contents: Iterable[Obj], our_id: str, deleting: set[ResourceKey]) -> list[ResourceKey]:
    """Objects in a namespace that deleting it would take along and that this prune does not delete itself.

    ``contents`` are the namespace's objects (metadata is enough, with apiVersion/kind set). Ignored: the
    objects being deleted, objects with an ownerReference (their owner is judged instead), Events, the
    ``default`` ServiceAccount, ``kube-root-ca.crt``, and Endpoints named like a Service of the namespace.
    """
    items = [(ResourceKey.of(o), o) for o in contents]
    services = {k.name for k, _ in items if k.group == "" and k.kind == "Service"}
    out = []
    for key, obj in items:
        meta = obj.get("metadata") or {}
        if key in deleting or (key.group, key.kind) in IGNORED_KINDS:
            continue
        if (key.group, key.kind, key.name) in _AUTO_CREATED or meta.get("ownerReferences"):
            continue
        if key.group == "" and key.kind == "Endpoints" and key.name in services:
            continue
        out.append(key)
    return sorted(out)


def select(members: Iterable[tuple[ResourceKey, Obj]], desired: set[ResourceKey], our_id: str, opts: PruneOptions,
           *, namespace_contents: Mapping[str, list[Obj]] | None = None,
           covers: Callable[[ResourceKey], bool | None] | None = None) -> Selection:
    """Decide what a prune deletes. ``members`` are (key, live object) of the listed members.

    ``namespace_contents`` holds, for each Namespace that is a candidate, everything in it; a Namespace
    whose contents were not read is listed for deletion with a note (``diff`` does this), never deleted.
    ``covers(key)`` says whether a member is within the rendered selection (``FileSelection.covers`` of its
    recorded source): False leaves it out (counted in ``outside``), None puts it in ``unattributed``.
    """
    sel = Selection()
    namespaces: list[Candidate] = []
    for key, obj in members:
        if key in desired:
            continue
        if ((obj.get("metadata") or {}).get("labels") or {}).get(LABEL_PART_OF) != our_id:
            continue  # the LIST selector guarantees this; a second check costs nothing
        inside = True if covers is None else covers(key)
        if inside is None:
            sel.unattributed.append(key)
            continue
        if not inside:
            sel.outside += 1
            continue
        c = candidate(obj, key)
        c.reason = kept_reason(c, opts)
        if c.reason:
            sel.kept.append(c)
        elif _is_namespace(key):
            namespaces.append(c)
        elif c.needs_confirm and not opts.confirm_prune:
            sel.confirm.append(c)
        else:
            sel.delete.append(c)
    deleting = {c.key for c in sel.delete}
    for c in namespaces:
        if namespace_contents is None or c.key.name not in namespace_contents:
            c.note = "deleted only if it holds nothing else"
        else:
            blockers = namespace_blockers(namespace_contents[c.key.name], our_id, deleting)
            if blockers:
                shown = ", ".join(str(k) for k in blockers[:5]) + (", ..." if len(blockers) > 5 else "")
                c.reason = (f"a Namespace that still holds {len(blockers)} object(s) this prune does not "
                            f"delete: {shown}")
                sel.kept.append(c)
                continue
        (sel.confirm if c.needs_confirm and not opts.confirm_prune else sel.delete).append(c)
    sel.delete = order_for_deletion(sel.delete)
    sel.confirm = order_for_deletion(sel.confirm)
    sel.kept.sort(key=lambda c: c.key)
    return sel


def namespace_candidates(members: Iterable[tuple[ResourceKey, Obj]], desired: set[ResourceKey],
                         covers: Callable[[ResourceKey], bool | None] | None = None) -> list[str]:
    """Names of Namespaces that are members, no longer desired and within the selection (their contents must
    be checked)."""
    return sorted(k.name for k, _ in members
                  if _is_namespace(k) and k not in desired and (covers is None or covers(k) is True))


def check_attributed(selection: Selection, files: FileSelection, app: AppRef) -> None:
    """With ``--include``/``--exclude``, members whose source is unknown cannot be placed inside or outside
    the selection: refuse the prune instead of guessing (either guess can be wrong: delete what is still in
    Git, or keep what left it)."""
    if not selection.unattributed:
        return
    n = len(selection.unattributed)
    shown = [str(k) for k in sorted(selection.unattributed)[:10]] + (["..."] if n > 10 else [])
    raise RefusedError(
        f"prune with {files.describe()}: {n} member(s) of app {app.name} that are not in the selection have no "
        "recorded source file, so it cannot tell whether they are inside it; nothing was deleted",
        details=shown,
        hint="these left Git before their source was recorded: prune once without --include/--exclude "
             "(`kubectl gitops prune --dry-run` shows what it deletes; syncs record every member's source, so "
             "limited prunes work after that), or sync without --prune")


def keep_still_in_git(selection: Selection, elsewhere: Mapping[ResourceKey, str]) -> None:
    """Candidates the selection no longer renders but that the rest of the repository still holds (moved to
    a file outside the selection) are kept, with where they are now."""
    for bucket in (selection.delete, selection.confirm):
        for c in [c for c in bucket if c.key in elsewhere]:
            bucket.remove(c)
            c.reason = f"still in Git ({elsewhere[c.key]}), outside the selection"
            selection.kept.append(c)
    selection.kept.sort(key=lambda c: c.key)


def check_not_empty(desired_count: int, selection: Selection, opts: PruneOptions, app: AppRef) -> None:
    """An empty rendered set (a wrong --path, a failed render) must not delete the whole app."""
    if desired_count == 0 and not selection.empty and not opts.allow_empty:
        n = len(selection.delete) + len(selection.confirm)
        raise RefusedError(
            f"the rendered set of app {app.name} is empty, so prune would delete all {n} of its objects; "
            "nothing was deleted",
            hint="check --path/--ref (a wrong path or a failed render looks like this); if the app really "
                 "is to be emptied, pass --allow-empty")
