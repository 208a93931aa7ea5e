"""What a tree of apps remembers between syncs, and deleting a child app that left the tree as a whole.

The tree record is a ConfigMap ``kubectl-gitops-tree.<root app>`` next to the root's record: one entry per
child app (its parent, its context, whether its app object allowed pruning — Argo CD ``automated.prune``,
Flux ``prune: true``). A later sync compares it with the tree it renders: a child that is gone was removed
from its parent. It is written only when it changes (a no-op re-sync writes nothing), never by a dry run.

``delete_app`` removes a child app whole: every member of its record (the prune guards hold: ownership,
``Prune=false``, ``Prune=confirm``, CRDs, Namespaces with foreign content: what they keep is left behind and
named), then the record itself, unless a deletion failed or waits for confirmation — under the app's Lease,
as ``prune`` does.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from kubectl_gitops.cluster.client import Cluster
from kubectl_gitops.engine.inventory import AppRef, _parent_type, read_record
from kubectl_gitops.engine.lease import Lease, LeaseOptions
from kubectl_gitops.engine.prune import PruneOptions
from kubectl_gitops.engine.prune_plan import Confirm, PruneReport, approve, preview_prune, prune_approved
from kubectl_gitops.errors import InvalidInputError
from kubectl_gitops.events import Event, EventSink, discard

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


def delete_app(cluster: Cluster, app: AppRef, opts: PruneOptions, *, confirm: Confirm | None,
               on_event: EventSink = discard) -> PruneReport | None:
    """Delete every member of ``app`` and then its record (module docstring); None when it has no record."""
    with Lease(cluster, app.name, app.namespace, command="delete (removed from its tree)", options=LeaseOptions(),
               on_event=on_event):
        record = read_record(cluster, app)
        if not record.exists:
            return None
        opts = replace(opts, allow_empty=True)
        report, listing = preview_prune(cluster, app, record, set(), opts, hooks=True)
        approve(report, confirm)
        prune_approved(cluster, report, listing, opts, on_event)
        # objects kept on purpose (Prune=false, CRDs without --allow-crd-deletion, ...) are left behind, as Argo CD
        # leaves them: the app is gone either way
        if report.ok and not report.unconfirmed and not report.unserved:
            cluster.delete(_parent_type(cluster), app.namespace, app.parent_name)
            on_event(Event("app.deleted", f"app {app.name}: its record was deleted", {"app": app.name}))
        return report
