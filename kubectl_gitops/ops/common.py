"""The shared front half of diff and sync: connect, load and validate the desired state against the
cluster's discovery, read live objects in batches, and hand them to the comparison engine
(``engine.diff.compare``: server-side dry runs only for objects that may differ).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kubectl_gitops.cluster.client import Cluster, ResourceType
from kubectl_gitops.cluster.live import Target, fetch_live
from kubectl_gitops.engine.diff.compare import (
    CompareOptions,
    Comparison,
    applied_object,
    compare,
    respect_ignored,
)
from kubectl_gitops.errors import ValidationError
from kubectl_gitops.events import Event, EventSink, discard
from kubectl_gitops.model import Manifest, Obj, ResourceKey, crd_spec
from kubectl_gitops.ops.app import resolve_app
from kubectl_gitops.secrets import decrypt_if_encrypted
from kubectl_gitops.settings import Settings, SourceOptions, environment
from kubectl_gitops.source.desired import Desired, load_desired

# CompareOptions, applied_object and respect_ignored live with the comparison engine; diff and sync import them here
__all__ = [
    "CompareOptions",
    "Comparison",
    "Loaded",
    "applied_object",
    "compute_changes",
    "crd_kinds",
    "load",
    "resolve_secret_placeholders",
    "respect_ignored",
    "select_resources",
]


@dataclass
class Loaded:
    cluster: Cluster
    desired: Desired
    types: dict[ResourceKey, ResourceType | None]  # None: a custom resource whose CRD is in this set
    live: dict[ResourceKey, Obj]
    timings: dict[str, float] = field(default_factory=dict)
    listed: dict[tuple[str, str, str], list[Obj]] = field(default_factory=dict)  # complete LISTs by (g, k, ns)
    unmatched_resources: list[str] = field(default_factory=list)  # --resource specs matching no rendered object


def crd_kinds(manifests: list[Manifest]) -> set[tuple[str, str]]:
    """(group, kind) of every CustomResourceDefinition in the set."""
    crds = (crd_spec(m) for m in manifests)
    return {(c.group, c.kind) for c in crds if c is not None and c.group and c.kind}


def load(settings: Settings, *, committed_only: bool, on_event: EventSink = discard,
         extra_checks: Callable[[list[Manifest]], list[str]] | None = None,
         workers: int = 8, cluster: Cluster | None = None,
         before_live: Callable[[Desired, Cluster], None] | None = None) -> Loaded:
    """Connect (unless given ``cluster``), render, validate (with the server's discovery) and read live state.
    Writes nothing. ``before_live`` is called once the desired state is known, before live state is read.
    On failure a connection made here is closed; a given ``cluster`` stays the caller's to close."""
    t0 = time.monotonic()
    connected_here = cluster is None
    cluster = cluster or Cluster.connect(settings.cluster, pool_size=workers)
    try:
        discovery = cluster.discovery
        t1 = time.monotonic()
        desired = load_desired(settings.source, committed_only=committed_only, default_namespace=cluster.namespace,
                               resolve=discovery.scope, transform=decrypt_if_encrypted, extra_checks=extra_checks)
        for warning in desired.warnings:
            on_event(Event("warning", warning))
        for replaced in desired.images:  # --image (source.images)
            on_event(Event("image", f"--image: {replaced}"))
        unmatched = select_resources(desired, settings.source)
        resolve_secret_placeholders(desired, on_event, allow=settings.source.vault_allow)
        t2 = time.monotonic()
        on_event(Event("source", desired.checkout.describe(), {
            "commit": desired.checkout.commit, "dirty": desired.checkout.dirty, "objects": len(desired.manifests)}))
        if before_live is not None:
            before_live(desired, cluster)
        pending_crds = crd_kinds(desired.manifests)
        types: dict[ResourceKey, ResourceType | None] = {}
        targets, unserved = [], []
        for m in desired.manifests:
            rt = discovery.lookup(m.api_version, m.kind)
            if rt is None and (m.group, m.kind) not in pending_crds:
                # validate() reports unknown kinds; reaching here means this version of the kind is not served
                unserved.append(f"{m.origin}: {m.key}: apiVersion {m.api_version} is not served by the cluster; "
                                "use a version the cluster serves (kubectl api-resources)")
                continue
            types[m.key] = rt
            if rt is not None and m.name:
                targets.append(Target(m.key, rt))
        if unserved:
            raise ValidationError(unserved, hint="fix these in the repository and run again")
        listed: dict[tuple[str, str, str], list[Obj]] = {}
        live = fetch_live(cluster, targets, workers=workers, listed=listed,
                          selector=resolve_app(settings, desired.checkout, cluster).selector)  # app's members
        t3 = time.monotonic()
        return Loaded(cluster, desired, types, live,
                      {"connect": t1 - t0, "render": t2 - t1, "live": t3 - t2}, listed, unmatched)
    except BaseException:
        if connected_here:  # a failed load leaves no connection behind
            cluster.close()
        raise


def select_resources(desired: Desired, source: SourceOptions) -> list[str]:
    """``--resource`` (Argo CD's partial sync): keep only the objects the specs match, and the app's hooks with
    ``--with-hooks``; the rest go to ``desired.unselected`` (still in Git: never pruned). Returns the specs that
    match no rendered object (a typo, or an object that left Git: only a prune can act on it)."""
    if not source.resources:
        return []
    from kubectl_gitops.engine.annotations import runs_as_hook
    from kubectl_gitops.source.resources import parse_resources

    specs = parse_resources(source.resources)
    unmatched = [s.text for s in specs if not any(s.matches(m.key) for m in desired.manifests)]
    keep = [m for m in desired.manifests
            if any(s.matches(m.key) for s in specs) or (source.resource_hooks and runs_as_hook(m))]
    kept = {id(m) for m in keep}
    desired.unselected.update({m.key: str(m.origin) for m in desired.manifests if id(m) not in kept})
    desired.manifests = keep
    return unmatched


def resolve_secret_placeholders(desired: Desired, on_event: EventSink = discard, *,
                                allow: tuple[str, ...] = ()) -> None:
    """argocd-vault-plugin placeholders are resolved when the repository uses them (an object with
    ``avp.kubernetes.io/path`` or a ``<path:...>`` placeholder), from Vault/OpenBao configured the usual way
    (VAULT_ADDR, VAULT_TOKEN or ~/.vault-token). ``KUBECTL_GITOPS_PLACEHOLDERS=off`` leaves them as text.

    Every path is checked first (``vaultpaths.check_placeholder_paths``: well-formed, under ``allow`` — the
    ``--vault-allow-prefix`` prefixes — or, without them, not a system/auth mount): one error lists every
    refused path before Vault is configured or contacted."""

    if environment().placeholders_off:
        return
    from kubectl_gitops.secrets.placeholders import find_placeholders, resolve_placeholders

    if not any(find_placeholders(m.obj) for m in desired.manifests):
        return
    from kubectl_gitops.secrets.vault import VaultKV
    from kubectl_gitops.secrets.vaultpaths import check_placeholder_paths

    check_placeholder_paths(desired.manifests, allow)
    on_event(Event("placeholders", "resolving secret placeholders from Vault"))
    desired.manifests = resolve_placeholders(desired.manifests, VaultKV.from_env(allow=allow))


def compute_changes(loaded: Loaded, opts: CompareOptions, *, labels: dict[str, str] | None = None,
                    on_event: EventSink = discard) -> Comparison:
    """``engine.diff.compare`` on what ``load`` read: the loaded cluster runs the dry runs."""
    return compare(loaded.cluster, loaded.desired.manifests, loaded.types, loaded.live, opts,
                   commit=loaded.desired.checkout.commit, labels=labels, on_event=on_event)
