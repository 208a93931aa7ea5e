"""Normalising: what the server maintains and what ignore rules cover is left out of a comparison."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kubectl_gitops.engine.diff.ignore import IgnoreRule, ignored_locations, matching
from kubectl_gitops.engine.diff.tree import copy_tree, delete_locations
from kubectl_gitops.model import ANN_SOURCE_COMMIT, Obj

# metadata fields the server maintains: never part of what a sync changes
SERVER_METADATA = ("managedFields", "resourceVersion", "uid", "generation", "creationTimestamp", "selfLink",
                   "deletionGracePeriodSeconds")


def normalize(obj: Obj, rules: Sequence[IgnoreRule] = ()) -> Obj:
    """A copy without what the server maintains (managedFields, resourceVersion, uid, generation,
    creationTimestamp, selfLink, deletionGracePeriodSeconds, ``status``) and without our source-commit
    annotation; empty ``annotations``/``labels`` left behind are dropped. Then the json pointers and jq
    paths of the rules matching this object are deleted (a path that does not exist is no error)."""
    out = copy_tree(obj)
    out.pop("status", None)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for k in SERVER_METADATA:
            meta.pop(k, None)
        ann = meta.get("annotations")
        if isinstance(ann, dict):
            ann.pop(ANN_SOURCE_COMMIT, None)
    matched = matching(rules, obj)
    if matched:
        delete_locations(out, ignored_locations(out, matched))
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for k in ("annotations", "labels"):
            if k in meta and not meta[k]:
                del meta[k]
    return out


def overlay(live: Any, desired: Any) -> Any:
    """A local stand-in for a dry run: ``desired`` laid over ``live``. Maps merge key by key, lists of
    named maps merge by name (other lists of maps of the same length item by item), anything else is
    replaced. Used only when the server could not be asked."""
    if isinstance(live, dict) and isinstance(desired, dict):
        out = copy_tree(live)
        for k, v in desired.items():
            out[k] = overlay(live[k], v) if k in live else copy_tree(v)
        return out
    if isinstance(live, list) and isinstance(desired, list) and desired \
            and all(isinstance(x, dict) for x in [*live, *desired]):
        if all("name" in x for x in [*live, *desired]):
            by_name = {x["name"]: x for x in live}
            return [overlay(by_name[x["name"]], x) if x["name"] in by_name else copy_tree(x) for x in desired]
        if len(live) == len(desired):
            return [overlay(a, b) for a, b in zip(live, desired, strict=True)]
    return copy_tree(desired)
