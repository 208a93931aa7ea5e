"""The shared front half of diff and sync: connect, load and validate the desired state against the
cluster's discovery, read live objects in batches, and compute changes with server-side dry runs.

Only objects that may differ from live are dry-run (``diff.may_differ``); the rest are known unchanged
from one LIST per type and namespace. Dry runs run on a bounded pool.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kubectl_gitops.cluster.client import ApiError, Cluster, ResourceType
from kubectl_gitops.cluster.concurrency import map_bounded
from kubectl_gitops.cluster.live import Target, fetch_live
from kubectl_gitops.engine import diff as diffmod
from kubectl_gitops.errors import ValidationError
from kubectl_gitops.events import Event, EventSink, discard
from kubectl_gitops.model import ANN_SOURCE_COMMIT, Manifest, Obj, ResourceKey
from kubectl_gitops.secrets import decrypt_if_encrypted
from kubectl_gitops.settings import Settings
from kubectl_gitops.source.desired import Desired, load_desired


@dataclass(frozen=True)
class CompareOptions:
    concurrency: int = 8
    ignore_rules: tuple[diffmod.IgnoreRule, ...] = ()
    fast_path: bool = True  # skip dry runs for objects known to be unchanged
    force_conflicts: bool = False
    respect_ignored: bool = True  # ignored fields keep their live values when written (sync --apply-ignored: off)


@dataclass
class Loaded:
    cluster: Cluster
    desired: Desired
    types: dict[ResourceKey, ResourceType | None]  # None: a custom resource whose CRD is in this set
    live: dict[ResourceKey, Obj]
    timings: dict[str, float] = field(default_factory=dict)
    listed: dict[tuple[str, str, str], list[Obj]] = field(default_factory=dict)  # complete LISTs by (g, k, ns)


def crd_kinds(manifests: list[Manifest]) -> set[tuple[str, str]]:
    """(group, kind) of every CustomResourceDefinition in the set."""
    out = set()
    for m in manifests:
        if m.kind == "CustomResourceDefinition":
            spec = m.obj.get("spec") or {}
            kind = (spec.get("names") or {}).get("kind")
            if spec.get("group") and kind:
                out.add((str(spec["group"]), str(kind)))
    return out


def load(settings: Settings, *, committed_only: bool, on_event: EventSink = discard,
         extra_checks: Callable[[list[Manifest]], list[str]] | None = None,
         workers: int = 8, cluster: Cluster | None = None,
         before_live: Callable[[Desired, Cluster], None] | None = None) -> Loaded:
    """Connect (unless given ``cluster``), render, validate (with the server's discovery) and read live state.
    Writes nothing. ``before_live`` is called once the desired state is known, before live state is read."""
    t0 = time.monotonic()
    cluster = cluster or Cluster.connect(settings.cluster, pool_size=workers)
    discovery = cluster.discovery
    t1 = time.monotonic()
    desired = load_desired(settings.source, committed_only=committed_only, default_namespace=cluster.namespace,
                           resolve=discovery.scope, transform=decrypt_if_encrypted, extra_checks=extra_checks)
    for warning in desired.warnings:
        on_event(Event("warning", warning))
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
    live = fetch_live(cluster, targets, workers=workers, listed=listed)
    t3 = time.monotonic()
    return Loaded(cluster, desired, types, live,
                  {"connect": t1 - t0, "render": t2 - t1, "live": t3 - t2}, listed)


def resolve_secret_placeholders(desired: Desired, on_event: EventSink = discard, *,
                                allow: tuple[str, ...] = ()) -> None:
    """argocd-vault-plugin placeholders are resolved when the repository uses them (an object with
    ``avp.kubernetes.io/path`` or a ``<path:...>`` placeholder), from Vault/OpenBao configured the usual way
    (VAULT_ADDR, VAULT_TOKEN or ~/.vault-token). ``KUBECTL_GITOPS_PLACEHOLDERS=off`` leaves them as text.

    Every path is checked first (``vault.check_placeholder_paths``: well-formed, under ``allow`` — the
    ``--vault-allow-prefix`` prefixes — or, without them, not a system/auth mount): one error lists every
    refused path before Vault is configured or contacted."""
    import os

    if os.environ.get("KUBECTL_GITOPS_PLACEHOLDERS", "").lower() in ("off", "false", "0", "no"):
        return
    from kubectl_gitops.secrets.placeholders import find_placeholders, resolve_placeholders

    if not any(find_placeholders(m.obj) for m in desired.manifests):
        return
    from kubectl_gitops.secrets.vault import VaultKV, check_placeholder_paths

    check_placeholder_paths(desired.manifests, allow)
    on_event(Event("placeholders", "resolving secret placeholders from Vault"))
    desired.manifests = resolve_placeholders(desired.manifests, VaultKV.from_env(allow=allow))


def applied_object(m: Manifest, commit: str | None, labels: dict[str, str] | None = None) -> Obj:
    """The object as sync sends it: the manifest plus our source-commit annotation and inventory labels."""
    obj: Obj = dict(m.obj)
    meta = dict(obj.get("metadata") or {})
    if commit:
        meta["annotations"] = {**(meta.get("annotations") or {}), ANN_SOURCE_COMMIT: commit}
    if labels:
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
    obj["metadata"] = meta
    return obj


def respect_ignored(obj: Obj, live: Obj | None, rules: tuple[diffmod.IgnoreRule, ...]) -> Obj:
    """Argo CD's RespectIgnoreDifferences, on by default: when an object already exists, fields a rule
    ignores keep their live value (or stay unset) when sync writes it. A new object is created as written."""
    if live is None or not rules:
        return obj
    return diffmod.respect_ignore_rules(obj, live, rules)


@dataclass
class Computed:
    changes: list[diffmod.Change]
    merged: dict[ResourceKey, Obj | None]  # raw dry-run results (None: not dry-run)
    conflicts: dict[ResourceKey, str]  # field-manager conflicts a sync would hit without --force-conflicts
    terminating: list[ResourceKey] = field(default_factory=list)  # desired objects the cluster is deleting
    dry_runs: int = 0


def _namespace_pending(e: ApiError, m: Manifest, namespaces_in_set: set[str]) -> bool:
    return e.status == 404 and bool(m.namespace) and m.namespace in namespaces_in_set


def _conflict_text(e: ApiError) -> str:
    """SSA conflicts name the other manager and the fields: keep the server's sentence."""
    return e.message

def compute_changes(loaded: Loaded, opts: CompareOptions, *, labels: dict[str, str] | None = None,
                    on_event: EventSink = discard) -> Computed:
    """Classify every desired object as create/update/unchanged, dry-running only those that may differ.

    Dry-run failures (invalid objects, admission denials) are collected and raised as one ValidationError
    naming each object, so a sync that would fail writes nothing.
    """
    cluster, manifests = loaded.cluster, loaded.desired.manifests
    commit = loaded.desired.checkout.commit
    namespaces_in_set = {m.name for m in manifests if m.kind == "Namespace" and not m.group}
    live_namespaces = {k.name for k in loaded.live if k.kind == "Namespace" and not k.group}
    rules = list(opts.ignore_rules)

    Result = tuple[diffmod.Change, Obj | None, str | None, str | None]  # change, merged, conflict, error

    def settle(m: Manifest) -> Result | None:
        """The answer without a dry run, or None when only a dry run can tell (cheap: runs inline)."""
        rt, live = loaded.types.get(m.key), loaded.live.get(m.key)
        if live is not None and (live.get("metadata") or {}).get("deletionTimestamp"):
            ch = diffmod.classify(m, live, None, rules)
            ch.note = "being deleted (deletionTimestamp is set): a sync has to wait until it is gone"
            return ch, None, None, None
        if live is not None and opts.fast_path and not diffmod.may_differ(applied_object(m, None, labels), live):
            return diffmod.unchanged(m), None, None, None
        if rt is None:
            ch = diffmod.classify(m, live, None, rules)
            ch.note = "not dry-run: its CustomResourceDefinition is created by this sync"
            return ch, None, None, None
        if not m.name:  # generateName hooks are created fresh each time
            ch = diffmod.classify(m, None, None, rules)
            ch.note = "hook with generateName: created fresh on every sync"
            return ch, None, None, None
        if m.namespace and m.namespace in namespaces_in_set and m.namespace not in live_namespaces:
            ch = diffmod.classify(m, None, None, rules)
            ch.note = f"not dry-run: namespace {m.namespace} is created by this sync"
            return ch, None, None, None
        return None

    def dry_run(m: Manifest) -> Result:
        rt, live = loaded.types[m.key], loaded.live.get(m.key)
        assert rt is not None  # settle() answered for kinds whose CRD is in the set
        obj = applied_object(m, commit, labels)
        if opts.respect_ignored:
            obj = respect_ignored(obj, live, opts.ignore_rules)
        conflict = None
        try:
            merged = cluster.apply(obj, rt, dry_run=True, force=opts.force_conflicts)
        except ApiError as e:
            if e.field_manager_conflict and not opts.force_conflicts:
                conflict = _conflict_text(e)
                try:
                    merged = cluster.apply(obj, rt, dry_run=True, force=True)
                except ApiError as e2:
                    return diffmod.classify(m, live, None, rules), None, None, f"{m.where()}: {e2.message}"
            elif _namespace_pending(e, m, namespaces_in_set):
                ch = diffmod.classify(m, None, None, rules)
                ch.note = f"not dry-run: namespace {m.namespace} is created by this sync"
                return ch, None, None, None
            else:
                hint = ""
                if e.status == 404 and m.namespace and f'namespaces "{m.namespace}" not found' in e.message:
                    hint = f"; create namespace {m.namespace} or add a Namespace object for it to the repository"
                return diffmod.classify(m, live, None, rules), None, None, f"{m.where()}: {e.message}{hint}"
        ch = diffmod.classify(m, live, merged, rules)
        if conflict and ch.changed:
            ch.note = conflict
        return ch, merged, conflict if ch.changed else None, None

    # Most objects are settled inline; only the rest pay for a thread hand-off and a dry run.
    settled = [settle(m) for m in manifests]
    pending = [m for m, r in zip(manifests, settled, strict=True) if r is None]
    ran = iter(map_bounded(dry_run, pending, opts.concurrency))
    results = [r if r is not None else next(ran) for r in settled]
    errors = [err for _, _, _, err in results if err]
    if errors:
        raise ValidationError(errors, hint="the API server rejected these objects in a dry run; nothing was changed")
    computed = Computed([], {}, {}, terminating=[m.key for m in manifests if (
        (loaded.live.get(m.key) or {}).get("metadata") or {}).get("deletionTimestamp")])
    for (ch, merged, conflict, _), m in zip(results, manifests, strict=True):
        computed.changes.append(ch)
        computed.merged[m.key] = merged
        if merged is not None:
            computed.dry_runs += 1
        if conflict:
            computed.conflicts[m.key] = conflict
    on_event(Event("compare", "", {"objects": len(manifests), "dry_runs": computed.dry_runs}))
    return computed
