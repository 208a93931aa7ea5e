"""Leftover hooks for prune: hook copies of other runs that their delete policy (or a newer copy) retires."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from kubectl_gitops.engine.prune import Selection
from kubectl_gitops.model import ResourceKey

if TYPE_CHECKING:
    from kubectl_gitops.cluster.client import Cluster, ResourceType


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
