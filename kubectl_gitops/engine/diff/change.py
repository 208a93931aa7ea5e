"""``Change`` and ``Op``: one desired or live object classified as create, update, unchanged or delete."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from kubectl_gitops import FIELD_MANAGER
from kubectl_gitops.engine.diff.drift import Drift, drift_between
from kubectl_gitops.engine.diff.fields import managed_fields
from kubectl_gitops.engine.diff.ignore import IgnoreRule, matching, strip_managed_by
from kubectl_gitops.engine.diff.mask import mask_change
from kubectl_gitops.engine.diff.normalize import normalize, overlay
from kubectl_gitops.engine.diff.tree import same
from kubectl_gitops.model import ANN_COMPARE_OPTIONS, Manifest, Obj, ResourceKey, split_api_version


class Op(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    UNCHANGED = "unchanged"

    def __str__(self) -> str:
        return self.value


def compare_options(obj: Obj | None) -> set[str]:
    """The ``argocd.argoproj.io/compare-options`` values of an object (comma list)."""
    if not obj:
        return set()
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(ANN_COMPARE_OPTIONS)
    return {v.strip() for v in str(value or "").split(",") if v.strip()}


@dataclass
class Change:
    """What a sync would do to one object. ``before``/``after`` are normalised and masked: safe to print
    (both None for an object ``unchanged`` found equal without a dry run: there is nothing to show).
    ``desired`` carries the plaintext manifest for sync and is kept out of ``repr``."""

    key: ResourceKey
    op: Op
    desired: Manifest | None = field(repr=False)  # None for delete
    before: Obj | None  # normalised, masked live
    after: Obj | None  # normalised, masked dry-run result (or desired when no dry run was possible)
    drift: list[Drift] = field(default_factory=list)
    ignored_extraneous: bool = False  # compare-options IgnoreExtraneous: listed but not counted
    note: str = ""  # e.g. "not dry-run: namespace does not exist yet"
    masked_fields: list[str] = field(default_factory=list)  # fields masked because their value is from a secret
    warnings: list[str] = field(default_factory=list)  # a secret's value in a field not from a secret (shown)

    @property
    def changed(self) -> bool:
        """Counts as a difference: not unchanged and not an ignored extraneous object."""
        return self.op is not Op.UNCHANGED and not self.ignored_extraneous

    @property
    def api_version(self) -> str:
        if self.desired is not None:
            return self.desired.api_version
        for side in (self.after, self.before):
            if side and side.get("apiVersion"):
                return str(side["apiVersion"])
        return ""

    @property
    def version(self) -> str:
        return split_api_version(self.api_version)[1]

    @property
    def source(self) -> str | None:
        """``file:line`` of the desired object (None for a deletion)."""
        if self.desired is None:
            return None
        o = self.desired.origin
        return f"{o.path}:{o.line}" if o.line else o.path

    def to_json(self) -> dict[str, Any]:
        """The stable record documented in docs/diff-json.md (without the rendered diff)."""
        return {
            "op": self.op.value,
            "group": self.key.group,
            "version": self.version,
            "kind": self.key.kind,
            "namespace": self.key.namespace,
            "name": self.key.name,
            "source": self.source,
            "drift": [d.to_json() for d in self.drift],
            "ignoredExtraneous": self.ignored_extraneous,
            "note": self.note,
            # only when there are any (schema version 1 unchanged for objects without secrets)
            **({"maskedFields": list(self.masked_fields)} if self.masked_fields else {}),
            **({"warnings": list(self.warnings)} if self.warnings else {}),
        }


def classify(desired: Manifest, live: Obj | None, merged: Obj | None, rules: Sequence[IgnoreRule] = (),
             field_manager: str = FIELD_MANAGER) -> Change:
    """One desired object against the cluster. ``live`` None -> CREATE (``after`` = the dry-run result,
    else the manifest). Otherwise both sides are normalised with the matching rules and compared:
    equal -> UNCHANGED, else UPDATE with drift attribution. ``merged`` None with a live object (no dry
    run was possible) compares against the manifest laid over live, and says so in ``note``."""
    key = desired.key
    matched = matching(rules, desired.obj)
    if live is None:
        after = normalize(merged if merged is not None else desired.obj, matched)
        _, masked, fields, warnings = mask_change(desired, None, after)
        return Change(key, Op.CREATE, desired, None, masked, [], masked_fields=fields, warnings=warnings)
    note = ""
    if merged is None:
        merged = overlay(live, desired.obj)
        note = "not dry-run: the manifest laid over the live object (server defaults not applied)"
    before = normalize(live, matched)
    after = before if merged is live else normalize(merged, matched)
    managers = [m for r in matched for m in r.managed_fields_managers]
    if managers and after is not before:
        before, after = strip_managed_by(before, after, managed_fields(live), managers)
    if after is before or same(before, after):
        masked, _, fields, warnings = mask_change(desired, before, None)
        return Change(key, Op.UNCHANGED, desired, masked, masked, [], note=note, masked_fields=fields,
                      warnings=warnings)
    drifts = drift_between(before, after, managed_fields(live), field_manager)
    mb, ma, fields, warnings = mask_change(desired, before, after)
    return Change(key, Op.UPDATE, desired, mb, ma, drifts, note=note, masked_fields=fields, warnings=warnings)


def unchanged(desired: Manifest) -> Change:
    """An object ``may_differ`` found unchanged without a dry run. Unchanged objects are never shown, so
    no sides are computed (normalising and masking 1,000 live objects costs a fifth of a no-op diff)."""
    return Change(desired.key, Op.UNCHANGED, desired, None, None, [])


def deletion(key: ResourceKey, live: Obj) -> Change:
    """A live object a prune would delete; with ``compare-options: IgnoreExtraneous`` it is listed but not
    counted (Argo CD's behaviour for extraneous objects)."""
    before, _, _, warnings = mask_change(None, normalize(live), None)
    return Change(key, Op.DELETE, None, before, None, [],
                  ignored_extraneous="IgnoreExtraneous" in compare_options(live), warnings=warnings)
