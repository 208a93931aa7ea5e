"""Deletion for prune: delete the approved candidates batch by batch and wait until each batch is gone."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kubectl_gitops.engine import interrupt
from kubectl_gitops.engine.inventory import AppRef
from kubectl_gitops.engine.prune import Candidate, PruneOptions, batches
from kubectl_gitops.engine.prune_listing import list_objects
from kubectl_gitops.events import Event, EventSink, discard
from kubectl_gitops.model import Obj, ResourceKey

if TYPE_CHECKING:
    from kubectl_gitops.cluster.client import Cluster, ResourceType

PROPAGATION = {"foreground": "Foreground", "background": "Background", "orphan": "Orphan"}


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
        interrupt.check("during prune", boundary=True)

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
