"""The comparison engine: every desired object against the cluster, dry-running only those that may differ.

Only objects that may differ from live are dry-run (``may_differ``); the rest are known unchanged from the
live objects read beforehand. Dry runs go through a ``DryRunner`` (``Cluster`` is one; a fake drives tests)
on a bounded pool.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kubectl_gitops import FIELD_MANAGER
from kubectl_gitops.cluster.client import ApiError, ResourceType
from kubectl_gitops.cluster.concurrency import map_bounded
from kubectl_gitops.engine.diff.change import Change, classify, unchanged
from kubectl_gitops.engine.diff.fastpath import may_differ
from kubectl_gitops.engine.diff.ignore import IgnoreRule, respect_ignore_rules
from kubectl_gitops.errors import ValidationError
from kubectl_gitops.events import Event, EventSink, discard
from kubectl_gitops.model import ANN_SOURCE_COMMIT, Manifest, Obj, ResourceKey


class DryRunner(Protocol):
    """The one cluster call a comparison makes: a server-side apply, here always with ``dry_run=True``.
    Raises ``ApiError`` when the server refuses (``field_manager_conflict`` for another manager's fields)."""

    def apply(self, obj: Obj, rt: ResourceType, *, dry_run: bool = False, force: bool = False) -> Obj: ...


@dataclass(frozen=True)
class CompareOptions:
    concurrency: int = 8
    ignore_rules: tuple[IgnoreRule, ...] = ()
    fast_path: bool = True  # skip dry runs for objects known to be unchanged
    force_conflicts: bool = False
    respect_ignored: bool = True  # ignored fields keep their live values when written (sync --apply-ignored: off)


@dataclass
class Comparison:
    """What a sync would do to every desired object (in the order given), with the raw dry-run results."""

    changes: list[Change]
    merged: dict[ResourceKey, Obj | None]  # raw dry-run results (None: not dry-run)
    conflicts: dict[ResourceKey, str]  # field-manager conflicts a sync would hit without --force-conflicts
    terminating: list[ResourceKey] = field(default_factory=list)  # desired objects the cluster is deleting
    dry_runs: int = 0


@dataclass(frozen=True)
class _Outcome:
    """One object's answer: its change, the dry-run result, a conflict a sync would hit, or a refusal."""

    change: Change
    merged: Obj | None = None
    conflict: str | None = None
    error: str | None = None


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


def respect_ignored(obj: Obj, live: Obj | None, rules: tuple[IgnoreRule, ...]) -> Obj:
    """Argo CD's RespectIgnoreDifferences, on by default: when an object already exists, fields a rule
    ignores keep their live value (or stay unset) when sync writes it. A new object is created as written."""
    if live is None or not rules:
        return obj
    return respect_ignore_rules(obj, live, rules)


def _noted(change: Change, note: str) -> Change:
    return dataclasses.replace(change, note=note)


def _namespace_pending(e: ApiError, m: Manifest, namespaces_in_set: set[str]) -> bool:
    return e.status == 404 and bool(m.namespace) and m.namespace in namespaces_in_set


def compare(runner: DryRunner, manifests: Sequence[Manifest], types: Mapping[ResourceKey, ResourceType | None],
            live: Mapping[ResourceKey, Obj], opts: CompareOptions, *, commit: str | None = None,
            labels: dict[str, str] | None = None, on_event: EventSink = discard) -> Comparison:
    """Classify every desired object as create/update/unchanged, dry-running only those that may differ.

    ``types`` maps each key to its served type (None: a custom resource whose CRD is in this set);
    ``live`` holds the live objects found. Dry-run failures (invalid objects, admission denials) are
    collected and raised as one ValidationError naming each object, so a sync that would fail writes nothing.
    """
    namespaces_in_set = {m.name for m in manifests if m.kind == "Namespace" and not m.group}
    live_namespaces = {k.name for k in live if k.kind == "Namespace" and not k.group}
    rules = list(opts.ignore_rules)
    manager = getattr(runner, "field_manager", FIELD_MANAGER)  # --field-manager: whose fields are "ours"

    def settle(m: Manifest) -> _Outcome | None:
        """The answer without a dry run, or None when only a dry run can tell (cheap: runs inline)."""
        rt, current = types.get(m.key), live.get(m.key)
        if current is not None and (current.get("metadata") or {}).get("deletionTimestamp"):
            return _Outcome(_noted(classify(m, current, None, rules, manager),
                                   "being deleted (deletionTimestamp is set): a sync has to wait until it is gone"))
        if current is not None and opts.fast_path and not may_differ(applied_object(m, None, labels), current, manager):
            return _Outcome(unchanged(m))
        if rt is None:
            return _Outcome(_noted(classify(m, current, None, rules, manager),
                                   "not dry-run: its CustomResourceDefinition is created by this sync"))
        if not m.name:  # generateName hooks are created fresh each time
            return _Outcome(_noted(classify(m, None, None, rules, manager),
                                   "hook with generateName: created fresh on every sync"))
        if m.namespace and m.namespace in namespaces_in_set and m.namespace not in live_namespaces:
            return _Outcome(_noted(classify(m, None, None, rules, manager),
                                   f"not dry-run: namespace {m.namespace} is created by this sync"))
        return None

    def dry_run(m: Manifest) -> _Outcome:
        rt, current = types[m.key], live.get(m.key)
        assert rt is not None  # settle() answered for kinds whose CRD is in the set
        obj = applied_object(m, commit, labels)
        if opts.respect_ignored:
            obj = respect_ignored(obj, current, opts.ignore_rules)
        conflict = None
        try:
            merged = runner.apply(obj, rt, dry_run=True, force=opts.force_conflicts)
        except ApiError as e:
            if e.field_manager_conflict and not opts.force_conflicts:
                conflict = e.message  # SSA conflicts name the other manager and the fields: keep the server's
                try:
                    merged = runner.apply(obj, rt, dry_run=True, force=True)
                except ApiError as e2:
                    return _Outcome(classify(m, current, None, rules, manager), error=f"{m.where()}: {e2.message}")
            elif _namespace_pending(e, m, namespaces_in_set):
                return _Outcome(_noted(classify(m, None, None, rules, manager),
                                       f"not dry-run: namespace {m.namespace} is created by this sync"))
            else:
                hint = ""
                if e.status == 404 and m.namespace and f'namespaces "{m.namespace}" not found' in e.message:
                    hint = f"; create namespace {m.namespace} or add a Namespace object for it to the repository"
                return _Outcome(classify(m, current, None, rules, manager), error=f"{m.where()}: {e.message}{hint}")
        ch = classify(m, current, merged, rules, manager)
        if conflict and ch.changed:
            return _Outcome(_noted(ch, conflict), merged, conflict)
        return _Outcome(ch, merged)

    # Most objects are settled inline; only the rest pay for a thread hand-off and a dry run.
    settled = [settle(m) for m in manifests]
    pending = [m for m, r in zip(manifests, settled, strict=True) if r is None]
    ran = iter(map_bounded(dry_run, pending, opts.concurrency))
    outcomes = [r if r is not None else next(ran) for r in settled]
    errors = [o.error for o in outcomes if o.error]
    if errors:
        raise ValidationError(errors, hint="the API server rejected these objects in a dry run; nothing was changed")
    result = Comparison([], {}, {}, terminating=[m.key for m in manifests if (
        (live.get(m.key) or {}).get("metadata") or {}).get("deletionTimestamp")])
    for o, m in zip(outcomes, manifests, strict=True):
        result.changes.append(o.change)
        result.merged[m.key] = o.merged
        if o.merged is not None:
            result.dry_runs += 1
        if o.conflict:
            result.conflicts[m.key] = o.conflict
    on_event(Event("compare", "", {"objects": len(manifests), "dry_runs": result.dry_runs}))
    return result
