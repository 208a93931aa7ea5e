"""``run_history``: the recorded syncs and prunes of an app (``kubectl gitops history``).

The history lives in the app's record (kubectl_gitops.engine.inventory): the last 20 operations with commit, ref,
time, user, result and counts. A rollback is a sync of an older commit: ``sync --ref <commit>``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from kubectl_gitops.cluster.client import Cluster
from kubectl_gitops.engine.apptree_record import read_tree
from kubectl_gitops.engine.inventory import AppRef, Record, read_record
from kubectl_gitops.ops.app import app_name
from kubectl_gitops.settings import Settings
from kubectl_gitops.source.repo import open_source


@dataclass
class HistoryResult:
    app: AppRef
    record: Record
    context: str
    # a tree of apps (docs/apps.md): every child app the tree's last sync left, with its record
    children: list[tuple[str, str, Record]] = field(default_factory=list)  # (name, parent, record)


def run_history(settings: Settings) -> HistoryResult:
    """Read one record: one GET (and, for the root of a tree of apps, its tree record and each child's record).
    Without ``--app`` the name is derived from the repository (its work tree
    is opened, nothing is rendered)."""
    if settings.app.name:
        name = app_name(settings, None)
    else:
        source = dataclasses.replace(settings.source, ref=None)
        with open_source(source, committed_only=False) as checkout:
            name = app_name(settings, checkout)
    cluster = Cluster.connect(settings.cluster, pool_size=2)
    try:
        app = AppRef(name, settings.app.record_namespace or cluster.namespace)
        result = HistoryResult(app, read_record(cluster, app), cluster.context)
        for entry in read_tree(cluster, app.namespace, name).values():
            if entry.context and entry.context != cluster.context:
                other = Cluster.connect(dataclasses.replace(settings.cluster, context=entry.context), pool_size=2)
                try:
                    record = read_record(other, AppRef(entry.name, app.namespace))
                finally:
                    other.close()
            else:
                record = read_record(cluster, AppRef(entry.name, app.namespace))
            result.children.append((entry.name, entry.parent, record))
        return result
    finally:
        cluster.close()
