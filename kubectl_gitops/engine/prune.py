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
    recorded per member by sync, see ``source_of``) would have been selected: ``FileSelection.covers``.
    Members outside the selection are not considered at all (``Selection.outside``); members whose source
    is unknown (records of older versions, a crash between apply and record) are collected in
    ``Selection.unattributed`` and the caller refuses the prune rather than guess
    (``check_attributed``). Hand-written rather than a library: it is the render's own glob rule
    (``render.glob_match``), applied to recorded paths instead of a walk.

Order
    The reverse of the sync order: higher waves first, and within a wave the reverse of the kind order
    (workloads before Services before ConfigMaps, custom resources before their CRD, Namespaces last);
    ``PruneLast=true`` objects after all others. Each batch (same wave and kind) is deleted concurrently
    and waited for until it is gone before the next starts.

Everything above ``# --- cluster`` is pure.
"""

from __future__ import annotations

import posixpath
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kubectl_gitops.engine import interrupt
from kubectl_gitops.engine.annotations import runs_as_hook, sync_options, wave
from kubectl_gitops.engine.inventory import LABEL_PART_OF, AppRef, Scope, parse_group_kind
from kubectl_gitops.engine.plan import UNKNOWN_KIND_ORDER, kind_rank
from kubectl_gitops.errors import RefusedError
from kubectl_gitops.events import Event, EventSink, discard
from kubectl_gitops.model import ANN_FLUX_PRUNE, Manifest, Obj, Origin, ResourceKey

if TYPE_CHECKING:
    from kubectl_gitops.cluster.client import Cluster, ResourceType

PROPAGATION = {"foreground": "Foreground", "background": "Background", "orphan": "Orphan"}
CRD_KEY = ("apiextensions.k8s.io", "CustomResourceDefinition")

# Objects the cluster creates in every namespace by itself: they never keep a Namespace alive.
_AUTO_CREATED = frozenset({("", "ServiceAccount", "default"), ("", "ConfigMap", "kube-root-ca.crt")})
_IGNORED_KINDS = frozenset({("", "Event"), ("events.k8s.io", "Event")})


@dataclass(frozen=True)
class PruneOptions:
    propagation: str = "foreground"  # foreground | background | orphan
    allow_crd_deletion: bool = False
    confirm_prune: bool = False  # Prune=confirm objects are confirmed up front
    allow_empty: bool = False  # prune even when the rendered set is empty
    timeout: float = 300.0  # waiting until deleted objects are gone
    poll_interval: float = 1.0
    concurrency: int = 8


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


# --- the selection: which members a prune may consider --------------------------------------------------------

# How a member's source is recorded: "<renderer>:<repository-relative path>" of the unit the render selects
# or skips as a whole. ``file``: the plain file; ``kustomize``: the kustomization folder; ``helm``: the chart
# folder; ``helm-template``: the template path Helm names (``<chart folder>/templates/x.yaml``) when the chart
# folder could not be told from it (``covers`` then tries every reading, see ``_units``).
SOURCE_RENDERERS = ("file", "kustomize", "helm", "helm-template")
_HELM_PARTS = frozenset({"templates", "charts", "crds"})
_RELEASE = re.compile(r", release (.+)$")


def _helm_readings(path: str) -> list[str]:
    """Every chart folder a Helm template path can come from: the part before a templates/, charts/ or crds/
    folder (``.`` for a chart at the repository root)."""
    parts = path.split("/")
    return ["/".join(parts[:i]) or "." for i in range(len(parts)) if parts[i] in _HELM_PARTS]


def source_of(origin: Origin, *, release_named: bool = False) -> str | None:
    """The recorded source of an object rendered from ``origin``; None when it is not known.

    A Helm object's origin is its template path; the chart folder is the reading whose name is the release
    (render names the release after the chart folder unless ``--release-name`` was given: ``release_named``)."""
    path = origin.path
    if not path or path.startswith("<"):
        return None
    if origin.renderer == "kustomize":
        return f"kustomize:{origin.detail or path}"  # detail: the kustomization folder, when path is a file in it
    if origin.renderer == "helm":
        readings = _helm_readings(path)
        if not readings:
            return f"helm:{path}"  # the chart folder itself (a document before any "# Source:" line)
        m = _RELEASE.search(origin.detail)
        chart = [u for u in readings if m and posixpath.basename(u) == m.group(1)] if not release_named else []
        return f"helm:{chart[0]}" if len(chart) == 1 else f"helm-template:{path}"
    if origin.renderer == "file":
        return f"file:{path}"
    return None


def _units(source: str) -> list[str]:
    """The file or folder the render selected to produce an object of ``source`` (several when a Helm
    template path can be read more than one way)."""
    renderer, _, path = source.partition(":")
    if renderer != "helm-template":
        return [path]
    return _helm_readings(path) or [path]


@dataclass(frozen=True)
class FileSelection:
    """The part of the repository a command rendered: the manifests ``path`` and the ``--include`` and
    ``--exclude`` globs (relative to ``path``, as in ``render``). Inactive without globs: then every member
    is considered, whatever its source (the behaviour before sources were recorded)."""

    path: str = "."
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @classmethod
    def of(cls, include: Iterable[str], exclude: Iterable[str], path: str = ".") -> FileSelection:
        start = posixpath.normpath(path.replace("\\", "/")) if path else "."
        return cls(start, tuple(include), tuple(exclude))

    @property
    def active(self) -> bool:
        return bool(self.include or self.exclude)

    def describe(self) -> str:
        flags = [f"--include {p}" for p in self.include] + [f"--exclude {p}" for p in self.exclude]
        return " ".join(flags)

    def _unit_selected(self, unit: str) -> bool:
        from kubectl_gitops.source.render import glob_match

        if self.path != "." and unit != self.path and not unit.startswith(self.path + "/"):
            return False  # the render never looked there
        if unit == self.path:
            return True  # the manifests path itself (a file, a kustomization, a chart) is never filtered
        inner = unit if self.path == "." else unit[len(self.path) + 1:]
        if self.include and not any(glob_match(inner, p) for p in self.include):
            return False
        return not any(glob_match(inner, p) for p in self.exclude)

    def covers(self, source: str | None) -> bool | None:
        """Would the render have read the source of a member? True/False; None when that cannot be told: the
        source is unknown, or a Helm template path whose readings disagree. Always True when inactive."""
        if not self.active:
            return True
        if not source or source.partition(":")[0] not in SOURCE_RENDERERS:
            return None
        answers = {self._unit_selected(u) for u in _units(source)}
        return answers.pop() if len(answers) == 1 else None


EVERYTHING = FileSelection()


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
    if runs_as_hook(m):
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
        if key in deleting or (key.group, key.kind) in _IGNORED_KINDS:
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


@dataclass
class PruneOutcome:
    deleted: list[ResourceKey] = field(default_factory=list)
    gone_already: list[ResourceKey] = field(default_factory=list)
    replaced: list[ResourceKey] = field(default_factory=list)  # re-created since listed: left alone
    failed: list[tuple[ResourceKey, str]] = field(default_factory=list)
    remaining: list[ResourceKey] = field(default_factory=list)  # deleted but still there at the timeout
    not_attempted: list[ResourceKey] = field(default_factory=list)  # after a batch that did not go away
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.remaining and not self.not_attempted

    @property
    def still_present(self) -> list[ResourceKey]:
        """Members that may still exist with our label: the record must keep covering them."""
        return [k for k, _ in self.failed] + self.remaining + self.not_attempted


# --- cluster -----------------------------------------------------------------------------------------------

METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"


@dataclass
class Listing:
    """The members of an app found by ``list_members``."""

    members: list[tuple[ResourceKey, Obj]] = field(default_factory=list)
    types: dict[ResourceKey, ResourceType] = field(default_factory=dict)
    unserved: list[str] = field(default_factory=list)  # recorded group-kinds the cluster no longer serves
    lists: int = 0  # LIST calls made (pages of one LIST count once)


def list_objects(cluster: Cluster, rt: ResourceType, namespace: str | None, *, selector: str | None,
                 metadata_only: bool, page_size: int = 500) -> list[Obj]:
    """One LIST (all pages), items with apiVersion/kind of ``rt``. ``metadata_only`` asks the server for
    PartialObjectMetadata: labels, annotations, uid and owners are all prune needs, at a fraction of the bytes."""
    if not metadata_only:
        return list(cluster.list(rt, namespace, label_selector=selector, page_size=page_size))
    out: list[Obj] = []
    cont: str | None = None
    while True:
        doc = cluster.request("GET", rt.path(namespace), accept=METADATA_LIST,
                              query={"labelSelector": selector, "limit": page_size, "continue": cont}) or {}
        for item in doc.get("items") or []:
            item["apiVersion"], item["kind"] = rt.api_version, rt.kind
            out.append(item)
        cont = (doc.get("metadata") or {}).get("continue")
        if not cont:
            return out


def list_members(cluster: Cluster, app: AppRef, scope: Scope, *, metadata_only: bool = True,
                 workers: int = 8, prefetched: Mapping[tuple[str, str, str], list[Obj]] | None = None) -> Listing:
    """Every live member of the app: exactly one LIST per recorded group-kind and namespace (one per
    cluster-scoped group-kind), filtered by the part-of label on the server.

    ``prefetched`` holds complete, unfiltered LISTs already made (full objects) by (group, kind, namespace):
    those are filtered here instead of listed again."""
    from kubectl_gitops.cluster.concurrency import map_bounded

    listing = Listing()
    calls: list[tuple[ResourceType, str | None]] = []
    for gk in sorted(scope.group_kinds):
        group, kind = parse_group_kind(gk)
        rt = cluster.discovery.for_group_kind(group, kind)
        if rt is None:
            listing.unserved.append(gk)
            continue
        if rt.namespaced:
            calls += [(rt, ns) for ns in scope.search_namespaces(app.namespace)]
        else:
            calls.append((rt, None))

    def run(call: tuple[ResourceType, str | None]) -> tuple[ResourceType, list[Obj], bool]:
        rt, ns = call
        done = (prefetched or {}).get((rt.group, rt.kind, ns or ""))
        if done is not None:
            return rt, [o for o in done if ((o.get("metadata") or {}).get("labels") or {}).get(LABEL_PART_OF)
                        == app.id], False
        return rt, list_objects(cluster, rt, ns, selector=app.selector, metadata_only=metadata_only), True

    for rt, items, listed in map_bounded(run, calls, workers):
        listing.lists += listed
        for obj in items:
            meta = obj.get("metadata") or {}
            key = ResourceKey(rt.group, rt.kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
            listing.members.append((key, obj))
            listing.types[key] = rt
    return listing


def find_leftover_hooks(cluster: Cluster, selection: Selection, types: Mapping[ResourceKey, ResourceType],
                        *, workers: int = 8) -> None:
    """Move the kept hooks that are leftovers of other runs (``hooks.leftovers``: superseded copies, finished
    copies their policy deletes) from ``selection.kept`` to ``selection.hooks``. Reads each labelled hook in
    full (its status tells whether it finished): one GET per hook object carrying a run label."""
    from kubectl_gitops.cluster.concurrency import map_bounded
    from kubectl_gitops.engine.hooks import LABEL_RUN, leftovers

    kept = [c for c in selection.kept if c.reason.startswith("a hook")
            and LABEL_RUN in ((c.obj.get("metadata") or {}).get("labels") or {}) and c.key in types]
    if not kept:
        return
    full = map_bounded(lambda c: (c, cluster.get(types[c.key], c.key.namespace or None, c.key.name)), kept, workers)
    found = {x.key: x.reason for x in leftovers([(c.key, obj) for c, obj in full if obj is not None])}
    for c in kept:
        if c.key in found:
            selection.kept.remove(c)
            c.reason, c.note = "", f"leftover hook: {found[c.key]}"
            selection.hooks.append(c)


def list_namespace_contents(cluster: Cluster, namespaces: list[str], *, workers: int = 8) -> dict[str, list[Obj]]:
    """Everything in each namespace (metadata only): one LIST per listable namespaced kind and namespace.
    Only run for Namespaces about to be pruned, so its cost does not touch a no-op prune."""
    from kubectl_gitops.cluster.client import ApiError
    from kubectl_gitops.cluster.concurrency import map_bounded

    if not namespaces:
        return {}
    seen: set[tuple[str, str]] = set()
    types: list[ResourceType] = []
    disc = cluster.discovery
    for (group, _version, kind), _rt in sorted(disc.types.items()):
        if (group, kind) in seen:
            continue
        rt = disc.for_group_kind(group, kind)
        if rt is None or not rt.namespaced or "list" not in rt.verbs or (group, kind) in _IGNORED_KINDS:
            continue
        seen.add((group, kind))
        types.append(rt)

    def run(call: tuple[str, ResourceType]) -> tuple[str, list[Obj]]:
        ns, rt = call
        try:
            return ns, list_objects(cluster, rt, ns, selector=None, metadata_only=True)
        except ApiError as e:
            if e.status in (403, 404, 405, 503):
                # A kind we may not list: we cannot prove the namespace is empty of it. Treat it as
                # holding something so the Namespace is kept rather than deleted blind.
                return ns, [{"apiVersion": rt.api_version, "kind": rt.kind,
                             "metadata": {"namespace": ns, "name": f"<cannot list {rt.plural}: {e.status}>"}}]
            raise

    out: dict[str, list[Obj]] = {ns: [] for ns in namespaces}
    for ns, items in map_bounded(run, [(ns, rt) for ns in namespaces for rt in types], workers):
        out[ns].extend(items)
    return out


def _delete(cluster: Cluster, rt: ResourceType, c: Candidate, propagation: str) -> str:
    """DELETE with the listed uid as a precondition (a same-named object made since is left alone).
    Returns deleted | gone | replaced."""
    from kubectl_gitops.cluster.client import ApiError

    body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": PROPAGATION[propagation]}
    if c.uid:
        body["preconditions"] = {"uid": c.uid}
    try:
        cluster.request("DELETE", rt.path(c.key.namespace or None, c.key.name), body=body)
        return "deleted"
    except ApiError as e:
        if e.not_found:
            return "gone"
        if e.conflict and c.uid:
            return "replaced"
        raise


def _still_there(cluster: Cluster, app: AppRef, items: list[tuple[ResourceType, Candidate]],
                 workers: int) -> list[tuple[ResourceType, Candidate]]:
    """The deleted objects that still exist (same uid): a GET each for a few, one LIST per type and
    namespace for more."""
    from kubectl_gitops.cluster.concurrency import map_bounded

    groups: dict[tuple[ResourceType, str], list[tuple[ResourceType, Candidate]]] = defaultdict(list)
    for rt, c in items:
        groups[(rt, c.key.namespace)].append((rt, c))

    def check(group: list[tuple[ResourceType, Candidate]]) -> list[tuple[ResourceType, Candidate]]:
        rt, ns = group[0][0], group[0][1].key.namespace or None
        if len(group) < 3:
            left = []
            for item in group:
                obj = cluster.get(rt, ns, item[1].key.name)
                if obj is not None and (obj.get("metadata") or {}).get("uid") == item[1].uid:
                    left.append(item)
            return left
        uids = {(o.get("metadata") or {}).get("uid")
                for o in list_objects(cluster, rt, ns, selector=app.selector, metadata_only=True)}
        return [item for item in group if item[1].uid in uids]

    return [item for left in map_bounded(check, list(groups.values()), workers) for item in left]


def execute(cluster: Cluster, app: AppRef, candidates: list[Candidate], types: Mapping[ResourceKey, ResourceType],
            opts: PruneOptions, *, on_event: EventSink = discard) -> PruneOutcome:
    """Delete ``candidates`` (already in deletion order) batch by batch, waiting for each batch to be gone.

    Waiting is bounded by ``opts.timeout`` for the whole prune; what is still there then is reported in
    ``remaining`` (a finalizer that never finishes, a stuck foreground deletion)."""
    from kubectl_gitops.cluster.client import ApiError
    from kubectl_gitops.cluster.concurrency import map_bounded

    start = time.monotonic()
    deadline = start + opts.timeout
    out = PruneOutcome()
    on_event(Event("prune.start", f"{len(candidates)} object(s) to delete", {"objects": len(candidates)}))
    todo = batches(candidates)
    for i, batch in enumerate(todo):
        interrupt.check("during prune")

        def one(c: Candidate) -> tuple[Candidate, str, str]:
            interrupt.check(f"before deleting {c.key}")
            try:
                return c, _delete(cluster, types[c.key], c, opts.propagation), ""
            except ApiError as e:
                return c, "failed", e.message

        results = map_bounded(one, batch, opts.concurrency)
        waiting: list[tuple[ResourceType, Candidate]] = []
        for c, status, message in results:
            on_event(Event("prune.delete", f"{c.key} {status}", {"key": str(c.key), "status": status,
                                                                "message": message}))
            if status == "deleted":
                waiting.append((types[c.key], c))
            elif status == "gone":
                out.gone_already.append(c.key)
            elif status == "replaced":
                out.replaced.append(c.key)
            else:
                out.failed.append((c.key, message))
        pause = min(0.1, opts.poll_interval)  # most deletions finish in well under a second
        while waiting:
            waiting = _still_there(cluster, app, waiting, opts.concurrency)
            if not waiting:
                break
            if time.monotonic() > deadline:
                out.remaining += [c.key for _, c in waiting]
                break
            time.sleep(pause)
            pause = min(pause * 2, opts.poll_interval)
        gone = [c.key for c, status, _ in results if status == "deleted" and c.key not in out.remaining]
        out.deleted += gone
        for key in gone:
            on_event(Event("prune.gone", f"{key} deleted", {"key": str(key)}))
        if out.remaining:
            # Later batches come after this one for a reason (reverse order): stop here.
            out.not_attempted = [c.key for later in todo[i + 1:] for c in later]
            break
    out.seconds = time.monotonic() - start
    on_event(Event("prune.done", f"{len(out.deleted)} deleted", {
        "deleted": len(out.deleted), "failed": len(out.failed), "remaining": len(out.remaining),
        "seconds": round(out.seconds, 3)}))
    return out
