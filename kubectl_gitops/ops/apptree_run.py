"""``run_tree_sync`` and ``run_tree_diff``: sync or diff every app of a tree (``ops.apptree`` builds it), each
through the normal ``run_sync``/``run_diff`` with its own settings, record, ownership and Lease.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from kubectl_gitops.engine.apptree import AppNode
from kubectl_gitops.errors import ClusterError, GitopsError
from kubectl_gitops.events import Event, EventSink, discard
from kubectl_gitops.model import Manifest
from kubectl_gitops.ops.apptree import (
    build_tree,
    decide,
    node_settings,
    private_folder,
    run_layers,
    selected,
    tagged,
)
from kubectl_gitops.settings import Settings

SYNCED, FAILED, SKIPPED, SUSPENDED, EMPTY, UNSELECTED, DELETED, KEPT, DRY_RUN = (
    "synced", "failed", "skipped", "suspended", "no objects", "not selected", "deleted", "removed, kept", "dry run")
RECORD_KEPT = "deleted, record kept"  # a removed child whose guarded members remain: its record stays


@dataclass
class AppRun:
    """What happened to one app of the tree."""

    name: str
    parent: str | None
    order: str
    status: str = SKIPPED
    writes: int = 0
    seconds: float = 0.0
    message: str = ""
    differences: int = 0  # diff
    result: Any = None  # the SyncResult / DiffResult
    error: GitopsError | None = None


@dataclass
class TreeResult:
    root: AppNode | None  # None: the render held no app objects, or they were applied as objects
    runs: list[AppRun] = field(default_factory=list)
    plain: Any = None  # the SyncResult/DiffResult of a render without a tree
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not any(r.status == FAILED for r in self.runs)

    @property
    def failed(self) -> list[AppRun]:
        return [r for r in self.runs if r.status == FAILED]


def _tree(settings: Settings, apps: list[Manifest], *, committed_only: bool, on_event: EventSink,
          private: Any) -> tuple[AppNode | None, str]:
    """The tree to work on, or None when the app objects are applied as plain objects (``--apps``)."""
    from kubectl_gitops.cluster.client import Cluster

    cluster = Cluster.connect(settings.cluster)
    try:
        if not decide(settings, apps, cluster.discovery, on_event):
            return None, ""
        context, namespace = cluster.context, cluster.namespace
    finally:
        cluster.close()
    record_ns = settings.app.record_namespace or namespace
    root = build_tree(settings, committed_only=committed_only, private=private, root_context=settings.cluster.context,
                      record_namespace=record_ns, default_namespace=namespace)
    on_event(Event("apps.tree", f"{len(root.walk()) - 1} child app(s) on context {context}",
                   {"apps": [n.name for n in root.walk()]}))
    return root, record_ns


def _ignore_rules(node: AppNode) -> tuple[Any, ...]:
    """The app object's ignoreDifferences, as ``--ignore-differences`` rules."""
    from kubectl_gitops.engine.diff import load_ignore_rules

    spec = node.spec
    if spec is None or not spec.ignore_differences:
        return ()
    return tuple(load_ignore_rules(spec.ignore_differences, f"{spec.origin}: {spec.name}"))


def _runs(root: AppNode) -> dict[str, AppRun]:
    return {n.name: AppRun(n.name, n.parent, n.order) for n in root.walk()}


def run_tree_sync(settings: Settings, req: Any, *, apps: list[Manifest], on_event: EventSink = discard,
                  confirm: Any = None) -> TreeResult:
    """Sync the tree whose render held ``apps`` (``AppsFound``); ``req`` is the ``SyncRequest`` of the command."""
    from kubectl_gitops.engine.prune import PruneOptions
    from kubectl_gitops.ops.sync import run_sync

    start = time.monotonic()
    with private_folder() as private:
        root, record_ns = _tree(settings, apps, committed_only=not req.allow_dirty, on_event=on_event,
                                private=private)
        if root is None:  # --apps=apply, or Argo CD/Flux is installed: the app objects are objects
            plain = run_sync(replace(settings, source=replace(settings.source, post_render=None)), req,
                             on_event=on_event, confirm=confirm)
            return TreeResult(None, plain=plain, seconds=time.monotonic() - start)
        runs = _runs(root)
        chosen = selected(root, settings.tree.only)
        lock = threading.Lock()

        def child_request(node: AppNode) -> Any:
            spec = node.spec
            if spec is None:
                return req
            rules = _ignore_rules(node)
            prune = req.prune
            if prune is None and spec.prune:  # automated.prune / prune: true
                prune = PruneOptions(concurrency=req.config.concurrency)
            if prune is not None and spec.propagation:
                prune = replace(prune, propagation=spec.propagation)
            return replace(req, allow_dirty=True, prune=prune,
                           compare=replace(req.compare, ignore_rules=req.compare.ignore_rules + rules),
                           config=replace(req.config, timeout=spec.timeout or req.config.timeout))

        def skip_below(node: AppNode, why: str) -> None:
            for d in node.walk()[1:]:
                if runs[d.name].status == SKIPPED and not runs[d.name].message:
                    runs[d.name].message = why

        def run_node(node: AppNode) -> bool:
            run = runs[node.name]
            if node.name not in chosen:
                run.status = UNSELECTED
                return run_layers(node, run_node, settings.tree.app_concurrency, stop_on_failure=True)
            if node.spec is not None and node.spec.suspend:
                run.status, run.message = SUSPENDED, "suspend: true"
                skip_below(node, f"{node.name} is suspended")
                return True
            t0 = time.monotonic()
            sink = tagged(on_event, node.name)
            sink(Event("app.start", f"app {node.name}" + (f" ({node.order})" if node.order else ""),
                       {"parent": node.parent, "order": node.order}))
            if node.objects or not node.children:
                try:
                    result = run_sync(node_settings(node), child_request(node), on_event=sink, confirm=confirm)
                except GitopsError as e:
                    if node.spec is None and not isinstance(e, ClusterError):
                        raise  # the root is the command's own app: its errors are the command's
                    run.status, run.error, run.message = FAILED, e, str(e)
                    run.seconds = time.monotonic() - t0
                    skip_below(node, f"{node.name} failed")
                    sink(Event("app.done", f"app {node.name}: failed: {e}", {"status": FAILED}))
                    return False
                with lock:
                    run.result, run.writes = result, result.writes
                if not result.ok:
                    run.status = FAILED
                    run.message = result.outcome.message if result.outcome else "prune failed"
                    skip_below(node, f"{node.name} failed")
                    sink(Event("app.done", f"app {node.name}: failed", {"status": FAILED}))
                    return False
                run.status = SYNCED
                if req.dry_run:
                    changed = sum(1 for c in result.changes.values() if c.changed)
                    run.status, run.message = DRY_RUN, f"{changed} object(s) would change"
            else:
                run.status, run.message = EMPTY, "only child apps"
            ok = run_layers(node, run_node, settings.tree.app_concurrency, stop_on_failure=True)
            run.seconds = time.monotonic() - t0
            sink(Event("app.done", f"app {node.name}: {run.status}", {"status": run.status}))
            if not ok:
                for c in node.children:
                    if runs[c.name].status == SKIPPED:
                        skip_below(c, "an earlier app failed")
                        runs[c.name].message = runs[c.name].message or "an earlier app failed"
            return ok

        ok = run_node(root)
        result = TreeResult(root, list(runs.values()), seconds=time.monotonic() - start)
        if ok and not req.dry_run and not settings.tree.only:  # removed children: only after a good sync
            result.runs.extend(_removed(settings, req, root, record_ns, confirm=confirm, on_event=on_event))
        result.seconds = time.monotonic() - start
        return result


def _removed(settings: Settings, req: Any, root: AppNode, record_ns: str, *, confirm: Any,
             on_event: EventSink) -> list[AppRun]:
    """Children the last sync had and this tree lacks: deleted as whole apps when their app object allowed
    pruning (or with --prune), else reported and remembered. Then the tree record, when it changed.

    A removed child is deleted by ``run_delete``, as ``kubectl gitops delete NAME`` would (ops/delete.py): the
    prune guards, the policy, the app's Lease, its hook objects too, and its record last, only when no member is
    left. A child whose guarded members remain keeps its record (``delete NAME`` later) and leaves the tree."""
    from kubectl_gitops.cluster.client import Cluster
    from kubectl_gitops.engine.apptree_record import TreeEntry, read_tree, write_tree
    from kubectl_gitops.engine.prune import PruneOptions
    from kubectl_gitops.ops.delete import DeleteRequest, run_delete

    out = []
    cluster = Cluster.connect(settings.cluster)
    try:
        previous = read_tree(cluster, record_ns, root.name)
        current = {n.name: TreeEntry(n.name, n.parent or "", n.settings.cluster.context or "",
                                     bool(n.spec and n.spec.prune)) for n in root.walk()[1:]}
        for name, entry in sorted(previous.items()):
            if name in current:
                continue
            run = AppRun(name, entry.parent, "removed from the tree")
            out.append(run)
            if not (entry.prune or req.prune is not None):
                run.status = KEPT
                run.message = ("its app object left the tree; kept: no automated.prune / prune: true (sync --prune "
                               "deletes it)")
                current[name] = entry
                continue
            t0 = time.monotonic()
            child = replace(settings, app=replace(settings.app, record_namespace=record_ns))
            if entry.context:
                child = replace(child, cluster=replace(settings.cluster, context=entry.context))
            request = DeleteRequest(name, options=req.prune or PruneOptions(), ignore_not_found=True,
                                    command="delete (removed from its tree)")
            try:
                deleted = run_delete(child, request, confirm=confirm, on_event=tagged(on_event, name))
            except GitopsError as e:
                run.status, run.message, run.error = FAILED, str(e), e
                current[name] = entry
                continue
            run.seconds = time.monotonic() - t0
            run.status, run.message = _removed_status(name, deleted)
            if run.status == FAILED:
                current[name] = entry
        write_tree(cluster, record_ns, root.name, current, previous)
    finally:
        cluster.close()
    return out


def _removed_status(name: str, deleted: Any) -> tuple[str, str]:
    """The status and message of a removed child from its ``DeleteResult``."""
    report = deleted.report
    if report is None:
        return DELETED, "it had no record: nothing to delete"
    if not report.ok or report.unconfirmed or report.unserved:
        return FAILED, "some objects were not deleted; its record stays"
    message = f"{len(report.outcome.deleted) if report.outcome else 0} object(s) deleted"
    if report.selection.kept:
        message += ", left behind: " + ", ".join(f"{c.key} ({c.reason})" for c in report.selection.kept)
    if not deleted.record_deleted:
        return RECORD_KEPT, (message + f"; its record stays while they remain (`kubectl gitops delete {name}` "
                                       "once they may go)")
    return DELETED, message


def run_tree_diff(settings: Settings, opts: Any, *, apps: list[Manifest], on_event: EventSink = discard) -> TreeResult:
    """Diff every app of the tree whose render held ``apps``: one ``run_diff`` per app."""
    from kubectl_gitops.ops.diff import run_diff

    start = time.monotonic()
    with private_folder() as private:
        root, _ = _tree(settings, apps, committed_only=False, on_event=on_event, private=private)
        if root is None:
            plain = run_diff(replace(settings, source=replace(settings.source, post_render=None)), opts,
                             on_event=on_event)
            return TreeResult(None, plain=plain, seconds=time.monotonic() - start)
        runs = _runs(root)
        chosen = selected(root, settings.tree.only)
        for node in root.walk():
            run = runs[node.name]
            if node.name not in chosen:
                run.status = UNSELECTED
                continue
            if not node.objects and node.children:
                run.status, run.message = EMPTY, "only child apps"
                continue
            t0 = time.monotonic()
            node_opts = replace(opts, ignore_rules=tuple(opts.ignore_rules) + _ignore_rules(node))
            result = run_diff(node_settings(node), node_opts, on_event=tagged(on_event, node.name))
            run.result, run.differences = result, len(result.differences)
            run.status = "differs" if result.differences else "in sync"
            run.seconds = time.monotonic() - t0
        return TreeResult(root, list(runs.values()), seconds=time.monotonic() - start)


@dataclass
class TreeWaves:
    root: AppNode
    plans: dict[str, Any]  # app name -> its Plan (its own objects)


def run_tree_waves(settings: Settings, *, apps: list[Manifest], on_event: EventSink = discard) -> TreeWaves | None:
    """The tree and each app's plan, offline (no cluster: ``--apps=auto`` expands). None with ``--apps=apply``."""
    from kubectl_gitops.engine.plan import build_plan, plan_annotation_checks
    from kubectl_gitops.source.desired import load_desired

    if not decide(settings, apps, None, on_event):
        return None
    namespace = settings.cluster.namespace or "default"
    with private_folder() as private:
        root = build_tree(settings, committed_only=False, private=private, root_context=settings.cluster.context,
                          record_namespace=settings.app.record_namespace or namespace, default_namespace=namespace)
        plans = {}
        for node in root.walk():
            s = node_settings(node)
            manifests = load_desired(s.source, committed_only=False, default_namespace=s.cluster.namespace or namespace,
                                     resolve=None, extra_checks=plan_annotation_checks).manifests
            plans[node.name] = build_plan(manifests)
    return TreeWaves(root, plans)
