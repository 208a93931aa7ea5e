"""Reading live state in as few calls as possible.

The floor for "what is in the cluster for these N objects" is one LIST per (type, namespace), not N GETs:
objects are grouped by type and namespace, groups of ``LIST_THRESHOLD`` or more objects are listed once,
smaller groups are fetched with GETs, and all calls run on a bounded pool.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from kubectl_gitops.cluster.client import Cluster, ResourceType
from kubectl_gitops.cluster.concurrency import map_bounded
from kubectl_gitops.model import Obj, ResourceKey

LIST_THRESHOLD = 3


@dataclass(frozen=True)
class Target:
    key: ResourceKey
    rt: ResourceType


def fetch_live(cluster: Cluster, targets: Iterable[Target], *, workers: int = 8,
               listed: dict[tuple[str, str, str], list[Obj]] | None = None) -> dict[ResourceKey, Obj]:
    """Live objects for the targets that exist; missing ones are absent from the result.

    ``listed``, when given, receives every LIST's complete result by (group, kind, namespace), so later
    readers of the same types (diff's deletions: the app's members) need not list them again."""
    groups: dict[tuple[ResourceType, str], list[Target]] = defaultdict(list)
    for t in targets:
        groups[(t.rt, t.key.namespace)].append(t)

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

    result: dict[ResourceKey, Obj] = {}
    for pairs in map_bounded(run, calls, workers):
        result.update(pairs)
    return result
