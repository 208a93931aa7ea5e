"""``run_history``: the recorded syncs and prunes of an app (``kubectl gitops history``).

The history lives in the app's record (kubectl_gitops.engine.inventory): the last 20 operations with commit, ref,
time, user, result and counts. ``resolve_rollback``: which commit ``kubectl gitops rollback REVISION|COMMIT``
syncs (the command is a sync of it, with every guard of sync).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from kubectl_gitops.cluster.client import Cluster
from kubectl_gitops.engine.apptree_record import read_tree
from kubectl_gitops.engine.inventory import AppRef, HistoryEntry, Record, read_record
from kubectl_gitops.errors import InvalidInputError, RefusedError, UsageError
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


@dataclass
class RollbackTarget:
    """What ``kubectl gitops rollback`` syncs: the commit (and path, images) of a recorded revision, or a commit."""

    app: AppRef
    commit: str
    path: str | None  # the revision's path; None: a commit not in the history (the command's own path)
    images: tuple[str, ...] = ()  # the revision's --image overrides, applied again
    entry: HistoryEntry | None = None  # None: TARGET is a commit or ref not found in the history
    context: str = ""


def resolve_rollback(settings: Settings, target: str) -> RollbackTarget:
    """Find ``target`` in the app's history: a revision number first, else a commit (prefix) a sync recorded,
    else any commit or ref as ``sync --ref`` reads it. Refuses (exit 6) revisions that cannot be reproduced:
    prunes, syncs of uncommitted changes, entries without a commit. Reads only (one GET of the record)."""
    found = run_history(settings)
    app, record = found.app, found.record
    if not record.exists:
        raise InvalidInputError(f"app {app.name} has no record in namespace {app.namespace} on context "
                                f"{found.context}: it was never synced there, so there is nothing to roll back",
                                hint="check --app and --record-namespace (kubectl gitops history shows an app's runs)")
    text = target.strip()
    if not text:
        raise UsageError("rollback needs a REVISION (from `kubectl gitops history`) or a COMMIT")
    entry: HistoryEntry | None = None
    if text.isdigit():
        entry = next((h for h in record.history if h.revision == int(text)), None)
    if entry is None and len(text) >= 4:
        lowered = text.lower()
        entry = next((h for h in reversed(record.history)
                      if h.operation == "sync" and h.commit and h.commit.lower().startswith(lowered)), None)
    if entry is None and text.isdigit() and len(text) < 7:
        revisions = [h.revision for h in record.history]
        span = f"{min(revisions)}..{max(revisions)}" if revisions else "none"
        raise InvalidInputError(f"revision {text} is not in the history of app {app.name} (revisions kept: {span})",
                                hint="`kubectl gitops history` lists them; a commit works too")
    if entry is None:
        return RollbackTarget(app, text, None, context=found.context)
    if entry.operation != "sync":
        raise RefusedError(f"revision {entry.revision} of app {app.name} is a {entry.operation}, not a sync; "
                           "nothing was changed", hint="roll back to a sync revision (kubectl gitops history)")
    if entry.dirty or not entry.commit:
        raise RefusedError(f"revision {entry.revision} of app {app.name} applied uncommitted changes "
                           "(--allow-dirty), which are not in Git: it cannot be reproduced; nothing was changed",
                           hint="roll back to a revision without '(dirty)' in `kubectl gitops history`")
    return RollbackTarget(app, entry.commit, entry.path, entry.images, entry, found.context)


def app_names(settings: Settings, *, timeout: float = 3.0) -> list[str]:
    """The apps with a record in the record namespace (one LIST of labelled Secrets, no retries): for shell
    completion of APP arguments. [] when the cluster cannot be asked."""
    from kubectl_gitops.cluster.client import ResourceType
    from kubectl_gitops.engine.inventory import LABEL_APPLYSET_ID, PARENT_PREFIX

    try:
        cluster = Cluster.connect(dataclasses.replace(settings.cluster, request_timeout=timeout), pool_size=1)
    except Exception:
        return []
    try:
        cluster.max_attempts = 1
        namespace = settings.app.record_namespace or cluster.namespace
        secrets = ResourceType("", "v1", "Secret", "secrets", True)
        names = [str((o.get("metadata") or {}).get("name") or "")
                 for o in cluster.list(secrets, namespace, label_selector=LABEL_APPLYSET_ID)]
        return sorted(n[len(PARENT_PREFIX):] for n in names if n.startswith(PARENT_PREFIX))
    except Exception:
        return []
    finally:
        cluster.close()
