"""What a tree of apps remembers between syncs: the tree record.

The tree record is a ConfigMap ``kubectl-gitops-tree.<root app>`` next to the root's record: one entry per
child app (its parent, its context, whether its app object allowed pruning — Argo CD ``automated.prune``,
Flux ``prune: true``). A later sync compares it with the tree it renders: a child that is gone was removed
from its parent. It is written only when it changes (a no-op re-sync writes nothing), never by a dry run.

A child removed from the tree is deleted whole by ``ops.delete.run_delete``, as ``kubectl gitops delete``
deletes an app (ops/apptree_run.py).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from kubectl_gitops.cluster.client import Cluster
from kubectl_gitops.errors import InvalidInputError

TREE_PREFIX = "kubectl-gitops-tree."
DATA_KEY = "apps.json"


@dataclass(frozen=True)
class TreeEntry:
    name: str
    parent: str
    context: str  # "" = the current context
    prune: bool


def _configmap(cluster: Cluster) -> Any:
    rt = cluster.discovery.lookup("v1", "ConfigMap")
    if rt is None:  # pragma: no cover - every API server serves ConfigMaps
        from kubectl_gitops.cluster.client import ResourceType

        rt = ResourceType("", "v1", "ConfigMap", "configmaps", True)
    return rt


def read_tree(cluster: Cluster, namespace: str, root: str) -> dict[str, TreeEntry]:
    """The children the last sync of the tree ``root`` left (one GET; empty before the first)."""
    obj = cluster.get(_configmap(cluster), namespace, TREE_PREFIX + root)
    if obj is None:
        return {}
    try:
        raw = json.loads(((obj.get("data") or {}).get(DATA_KEY)) or "[]")
        entries = [TreeEntry(str(e["name"]), str(e.get("parent") or ""), str(e.get("context") or ""),
                             bool(e.get("prune"))) for e in raw]
    except (ValueError, TypeError, KeyError) as e:
        raise InvalidInputError(f"ConfigMap {namespace}/{TREE_PREFIX}{root} is not a tree record ({e})",
                                hint="delete it (the next sync writes it again) or pick another --app") from e
    return {e.name: e for e in entries}


def write_tree(cluster: Cluster, namespace: str, root: str, entries: dict[str, TreeEntry],
               previous: dict[str, TreeEntry]) -> bool:
    """Write the tree record when it changed; True when it was written."""
    if entries == previous:
        return False
    body = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": TREE_PREFIX + root, "namespace": namespace,
                         "labels": {"app.kubernetes.io/managed-by": "kubectl-gitops"}},
            "data": {DATA_KEY: json.dumps([asdict(e) for e in sorted(entries.values(), key=lambda e: e.name)])}}
    cluster.apply(body, _configmap(cluster), force=True)
    return True
