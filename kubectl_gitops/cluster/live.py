"""Reading live state in as few calls as possible.

The floor for "what is in the cluster for these N objects" is one LIST per (type, namespace), not N GETs:
objects are grouped by type and namespace, groups of ``LIST_THRESHOLD`` or more objects are listed once,
smaller groups are fetched with GETs, and all calls run on a bounded pool.

An app spread over many namespaces pays one LIST per type *and* namespace (10,000 objects of 5 kinds in 100
namespaces: 500 LISTs). Given the app's member ``selector``, a type listed in ``CLUSTER_WIDE_NAMESPACES`` or
more namespaces is first listed once across the cluster, filtered by that label on the server (paged): the
app's members are found in a few pages instead of hundreds of calls. A namespace whose wanted objects were
not all among them (a first sync, an object to adopt) is still read as before, so nothing is missed; a
runner that may not list the type across the cluster (403) falls back to the per-namespace LISTs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from kubectl_gitops.cluster.apierror import ApiError
from kubectl_gitops.cluster.client import Cluster, ResourceType
from kubectl_gitops.cluster.concurrency import map_bounded
from kubectl_gitops.model import Obj, ResourceKey

LIST_THRESHOLD = 3
CLUSTER_WIDE_NAMESPACES = 4


@dataclass(frozen=True)
class Target:
    key: ResourceKey
    rt: ResourceType


def members_key(group: str, kind: str, selector: str) -> tuple[str, str, str]:
    """The ``listed`` key of a cluster-wide LIST filtered by ``selector`` (every namespace's members of a type)."""
    return (group, kind, "*" + selector)


def fetch_live(cluster: Cluster, targets: Iterable[Target], *, workers: int = 8,
               listed: dict[tuple[str, str, str], list[Obj]] | None = None,
               selector: str | None = None) -> dict[ResourceKey, Obj]:
    """Live objects for the targets that exist; missing ones are absent from the result.

    ``listed``, when given, receives every LIST's complete result by (group, kind, namespace), so later
    readers of the same types (diff's deletions: the app's members) need not list them again; a cluster-wide
    LIST by ``selector`` is stored under ``members_key``."""
    groups: dict[tuple[ResourceType, str], list[Target]] = defaultdict(list)
    for t in targets:
        groups[(t.rt, t.key.namespace)].append(t)

    result: dict[ResourceKey, Obj] = {}
    if selector:
        spread: dict[ResourceType, int] = defaultdict(int)
        for (rt, _ns), members in groups.items():
            if rt.namespaced and len(members) >= LIST_THRESHOLD:
                spread[rt] += 1
        wide = [rt for rt, count in spread.items() if count >= CLUSTER_WIDE_NAMESPACES]

        def list_wide(rt: ResourceType) -> tuple[ResourceType, list[Obj] | None]:
            try:
                return rt, list(cluster.list(rt, None, label_selector=selector))
            except ApiError as e:
                if e.status == 403:  # may list it per namespace only: read it as before
                    return rt, None
                raise

        for rt, found in map_bounded(list_wide, wide, workers):
            if found is None:
                continue
            if listed is not None:
                listed[members_key(rt.group, rt.kind, selector)] = found
            by_name = {((o.get("metadata") or {}).get("namespace") or "", (o.get("metadata") or {}).get("name")): o
                       for o in found}
            for (group_rt, ns), members in list(groups.items()):
                if group_rt != rt:
                    continue
                hits = [(m.key, by_name[(ns, m.key.name)]) for m in members if (ns, m.key.name) in by_name]
                if len(hits) == len(members):  # every wanted object is a member: nothing more to read here
                    result.update(hits)
                    del groups[(group_rt, ns)]

    calls: list[tuple[str, ResourceType, str, list[Target]]] = []
    for (rt, ns), members in groups.items():
        if len(members) >= LIST_THRESHOLD:
            calls.append(("list", rt, ns, members))
        else:
            calls += [("get", rt, ns, [m]) for m in members]

    def run(call: tuple[str, ResourceType, str, list[Target]]) -> list[tuple[ResourceKey, Obj]]:
        how, rt, ns, members = call
        if how == "get":
            obj = cluster.get(rt, ns or None, members[0].key.name)
            if obj is not None:
                obj.setdefault("apiVersion", rt.api_version)
                obj.setdefault("kind", rt.kind)
                return [(members[0].key, obj)]
            return []
        wanted = {m.key.name: m.key for m in members}
        found = []
        everything = list(cluster.list(rt, ns or None))
        if listed is not None:
            listed[(rt.group, rt.kind, ns)] = everything
        for obj in everything:
            name = (obj.get("metadata") or {}).get("name")
            if name in wanted:
                found.append((wanted[name], obj))
        return found

    for pairs in map_bounded(run, calls, workers):
        result.update(pairs)
    return result
