"""Which app a command works on, and the app-level views of diff (ownership notes, pending deletions).

The inventory steps of a sync and the record after a prune are kubectl_gitops.engine.run_record; a prune's
plan (list, select, approve, delete) is kubectl_gitops.engine.prune_plan.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from kubectl_gitops.cluster.client import Cluster
from kubectl_gitops.engine.app_names import default_app_name, validate_app_name
from kubectl_gitops.engine.diff import Change
from kubectl_gitops.engine.inventory import AppRef, read_record
from kubectl_gitops.engine.ownership import ownership_conflicts
from kubectl_gitops.engine.prune import PruneOptions, keep_still_in_git, select
from kubectl_gitops.engine.prune_listing import list_members
from kubectl_gitops.engine.prune_plan import Elsewhere, selection_covers
from kubectl_gitops.engine.prune_sources import EVERYTHING, FileSelection
from kubectl_gitops.errors import RefusedError
from kubectl_gitops.events import Event, EventSink, discard
from kubectl_gitops.model import Obj, ResourceKey
from kubectl_gitops.settings import Settings, SourceOptions
from kubectl_gitops.source.repo import Checkout


def app_name(settings: Settings, checkout: Checkout | None) -> str:
    """``--app`` when given (validated), else the default derived from the repository and path."""
    if settings.app.name:
        return validate_app_name(settings.app.name)
    if checkout is None:
        return default_app_name(None, None, settings.source.path)
    repo_dir = None
    if checkout.repo_root is not None:
        # Without a remote, a folder name alone is not an identity: two repositories called "deploy" on one
        # machine must not share an app (a prune of one would delete the other's objects).
        where = hashlib.sha256(str(checkout.repo_root.resolve()).encode()).hexdigest()[:6]
        repo_dir = f"{checkout.repo_root.name}-{where}"
    return default_app_name(checkout.remote_url, repo_dir, checkout.path)


def resolve_app(settings: Settings, checkout: Checkout | None, cluster: Cluster) -> AppRef:
    return AppRef(app_name(settings, checkout), settings.app.record_namespace or cluster.namespace)


def file_selection(settings: Settings, checkout: Checkout) -> FileSelection:
    """The part of the repository this command rendered: the manifests path, --include/--exclude and -l."""
    return FileSelection.of(settings.source.include, settings.source.exclude, checkout.path,
                            settings.source.selector, settings.source.resources)


def whole_repository(source: SourceOptions, *, committed_only: bool, default_namespace: str,
                     resolve: Any = None) -> Elsewhere:
    """``elsewhere`` for ``preview_prune``: render ``source`` without its --include/--exclude/-l/--resource (only when
    called), keys and origins only; placeholders are not resolved (nothing is fetched)."""

    def render_all() -> Mapping[ResourceKey, str]:
        from kubectl_gitops.secrets import decrypt_if_encrypted
        from kubectl_gitops.source.desired import load_desired

        whole = load_desired(replace(source, include=(), exclude=(), selector=None, resources=()),
                             committed_only=committed_only, default_namespace=default_namespace, resolve=resolve,
                             transform=decrypt_if_encrypted)
        return {m.key: str(m.origin) for m in whole.manifests}

    return render_all


def note_ownership(changes: list[Change], live: dict[ResourceKey, Obj], app: AppRef) -> None:
    """Mark the changes of objects that exist but are not the app's: sync refuses them without --adopt."""
    by_key = {c.key: c for c in changes}
    for conflict in ownership_conflicts(by_key, live, app.id):
        ch = by_key[conflict.key]
        owner = "no app" if conflict.owner is None else str(conflict.owner)
        text = f"not owned by app {app.name} (belongs to {owner}): sync refuses it without --adopt"
        ch.note = f"{ch.note}; {text}" if ch.note else text


def pending_deletions(cluster: Cluster, app: AppRef, desired: set[ResourceKey], *,
                      on_event: EventSink = discard,
                      prefetched: Mapping[tuple[str, str, str], list[Obj]] | None = None,
                      files: FileSelection = EVERYTHING,
                      still_in_git: Mapping[ResourceKey, str] | None = None) -> list[Change]:
    """What ``diff`` shows as deletions: members a prune would delete (or would with a flag: Prune=confirm,
    CRDs, Namespaces whose contents are not checked here, each with a note). Objects kept on purpose
    (Prune=false, Flux prune disabled, hooks) are not differences. One GET and the member LISTs.
    With --include/--exclude (``files``) only members within the selection are shown; members without a
    recorded source are shown with a note (a prune limited the same way refuses). Members in ``still_in_git``
    (rendered, but outside -l) are not deletions: a prune keeps them."""
    from kubectl_gitops.engine.diff import deletion

    try:
        record = read_record(cluster, app)
    except RefusedError as e:
        on_event(Event("warning", f"{e.message}: deletions are not shown"))
        return []
    if not record.exists:
        return []
    listing = list_members(cluster, app, record.scope, metadata_only=False, prefetched=prefetched)
    sel = select(listing.members, desired, app.id, PruneOptions(), namespace_contents=None,
                 covers=selection_covers(record, files, listing.members))
    if still_in_git:
        keep_still_in_git(sel, still_in_git)
    live = dict(listing.members)
    out = []
    for key in sel.unattributed:
        ch = deletion(key, live[key])
        ch.note = ("no recorded source file: prune with --include/--exclude refuses it (prune or sync once without "
                   "them)")
        out.append(ch)
    for c in sel.delete + sel.confirm + [k for k in sel.kept if k.key.kind == "CustomResourceDefinition"]:
        ch = deletion(c.key, live[c.key])
        if c in sel.confirm:
            ch.note = "Prune=confirm: prune deletes it only with --confirm-prune"
        elif c.reason:
            ch.note = "a CustomResourceDefinition: pruned only with --allow-crd-deletion"
        elif c.note:
            ch.note = f"a Namespace: {c.note}"
        out.append(ch)
    return out


__all__ = ["app_name", "file_selection", "note_ownership", "pending_deletions", "resolve_app",
           "whole_repository"]
