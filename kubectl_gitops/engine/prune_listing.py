"""Listing for prune: the app's live members (one LIST per recorded group-kind and namespace) and the
contents of Namespaces about to be pruned."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kubectl_gitops.engine.inventory import LABEL_PART_OF, AppRef, Scope, parse_group_kind
from kubectl_gitops.engine.prune import IGNORED_KINDS
from kubectl_gitops.model import Obj, ResourceKey

if TYPE_CHECKING:
    from kubectl_gitops.cluster.client import Cluster, ResourceType

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
    """Every live member of the app: one LIST per recorded group-kind and namespace (one per cluster-scoped
    group-kind), filtered by the part-of label on the server. A group-kind recorded in ``CLUSTER_WIDE_NAMESPACES``
    or more namespaces is listed once across the cluster instead (403: per namespace); only members in the
    recorded namespaces count (an object labelled as ours elsewhere is not the app's to prune).

    ``prefetched`` holds complete, unfiltered LISTs already made (full objects) by (group, kind, namespace), and
    cluster-wide LISTs of the app's members by ``members_key``: those are filtered here instead of listed again."""
    from kubectl_gitops.cluster.concurrency import map_bounded
    from kubectl_gitops.cluster.live import CLUSTER_WIDE_NAMESPACES, members_key

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

    known: dict[tuple[str, str, str], list[Obj]] = dict(prefetched or {})
    spread: dict[ResourceType, list[str]] = {}
    for rt, ns in calls:
        if ns and (rt.group, rt.kind, ns) not in known and members_key(rt.group, rt.kind, app.selector) not in known:
            spread.setdefault(rt, []).append(ns)
    wide = [rt for rt, spaces in spread.items() if len(spaces) >= CLUSTER_WIDE_NAMESPACES]

    def list_wide(rt: ResourceType) -> tuple[ResourceType, list[Obj] | None]:
        """The type's members in every namespace, in one (paged) LIST; None when the runner may not (403)."""
        from kubectl_gitops.cluster.client import ApiError

        try:
            return rt, list_objects(cluster, rt, None, selector=app.selector, metadata_only=metadata_only)
        except ApiError as e:
            if e.status == 403:
                return rt, None
            raise

    for rt, found in map_bounded(list_wide, wide, workers):
        if found is not None:
            listing.lists += 1
            known[members_key(rt.group, rt.kind, app.selector)] = found

    def run(call: tuple[ResourceType, str | None]) -> tuple[ResourceType, list[Obj], bool]:
        rt, ns = call
        done = known.get((rt.group, rt.kind, ns or ""))
        if done is None and ns:  # a cluster-wide LIST of the app's members of this type: this namespace's
            across = known.get(members_key(rt.group, rt.kind, app.selector))
            if across is not None:
                done = [o for o in across if (o.get("metadata") or {}).get("namespace") == ns]
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
        if rt is None or not rt.namespaced or "list" not in rt.verbs or (group, kind) in IGNORED_KINDS:
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
