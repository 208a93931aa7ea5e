"""The fast path: ``may_differ`` tells, from managedFields, whether an apply surely changes nothing."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from kubectl_gitops import FIELD_MANAGER
from kubectl_gitops.engine.diff.fields import key_matches, managed_fields, parse_member
from kubectl_gitops.engine.diff.tree import MISSING, same
from kubectl_gitops.model import ANN_SOURCE_COMMIT, Obj


class _Unsure(Exception):
    """Raised inside may_differ's walk: the answer is "maybe", so a dry run decides."""


def _trim_desired(desired: Obj) -> Obj:
    """What we own after an apply, as far as managedFields records it: no apiVersion/kind/name/namespace
    and no source-commit annotation."""
    out = {k: v for k, v in desired.items() if k not in ("apiVersion", "kind")}
    meta = desired.get("metadata")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k not in ("name", "namespace")}
        ann = meta.get("annotations")
        if isinstance(ann, dict) and ANN_SOURCE_COMMIT in ann:
            ann = {k: v for k, v in ann.items() if k != ANN_SOURCE_COMMIT}
            if ann:
                meta["annotations"] = ann
            else:
                del meta["annotations"]
        if meta:
            out["metadata"] = meta
        else:
            del out["metadata"]
    return out


def _trim_fields(fields: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in fields.items() if k not in ("f:apiVersion", "f:kind")}
    meta = out.get("f:metadata")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k not in ("f:name", "f:namespace")}
        ann = meta.get("f:annotations")
        if isinstance(ann, dict) and f"f:{ANN_SOURCE_COMMIT}" in ann:
            ann = {k: v for k, v in ann.items() if k != f"f:{ANN_SOURCE_COMMIT}"}
            if set(ann) - {"."}:
                meta["f:annotations"] = ann
            else:
                del meta["f:annotations"]
        if set(meta) - {"."}:
            out["f:metadata"] = meta
        else:
            del out["f:metadata"]
    return out


def _match_member(item: Any, index: int, members: dict[str, Any]) -> str:
    """The fieldsV1 member (``k:``/``v:``/``i:``) that stands for a desired list item; unsure -> raise."""
    if isinstance(item, dict):
        found = []
        for member, child in members.items():
            if not member.startswith("k:"):
                continue
            key = parse_member(member)[1]
            # A key field the item leaves out was defaulted by the server (ports[].protocol): fine,
            # as long as our entry does not claim to own it.
            if all((k in item and same(item[k], v)) or (k not in item and f"f:{k}" not in (child or {}))
                   for k, v in key.items()):
                found.append(member)
        if len(found) == 1:
            return found[0]
    elif isinstance(item, (str, int, float, bool)):
        found = [m for m in members if m.startswith("v:") and same(parse_member(m)[1], item)]
        if len(found) == 1:
            return found[0]
    if f"i:{index}" in members:
        return f"i:{index}"
    raise _Unsure


def _owned_equal(d: Any, live: Any, fields: Any) -> None:
    """Raise _Unsure unless ``d`` (desired) is within ``live`` and ``fields`` (our fieldsV1 node) owns
    exactly the fields of ``d``."""
    if d is None or live is MISSING or not isinstance(fields, dict):
        raise _Unsure
    if not fields:  # a leaf: a scalar, or an atomic struct/list replaced as a whole
        if not same(d, live):
            raise _Unsure
        return
    if isinstance(d, dict):
        # the members (all but ".") are exactly {"f:<key>" for each key of d}: as many, and each one there
        if not d or not isinstance(live, dict) or len(fields) - ("." in fields) != len(d):
            raise _Unsure
        for k, v in d.items():
            child = fields.get(f"f:{k}", MISSING)
            if child is MISSING:
                raise _Unsure
            _owned_equal(v, live.get(k, MISSING), child)
        return
    members = {k: v for k, v in fields.items() if k != "."}
    if isinstance(d, list):
        if not d or not isinstance(live, list) or len(live) != len(d) or len(members) != len(d):
            raise _Unsure
        used: set[str] = set()
        for i, item in enumerate(d):
            member = _match_member(item, i, members)
            if member in used:
                raise _Unsure
            used.add(member)
            seg = parse_member(member)
            if seg[0] == "k" and not key_matches(live[i], seg[1]):
                raise _Unsure  # not at the same position in live: an apply would reorder
            if seg[0] == "v":
                if not same(live[i], item) or set(members[member] or {}) - {"."}:
                    raise _Unsure
                continue
            _owned_equal(item, live[i], {k: v for k, v in members[member].items() if k != "."} or {})
        return
    raise _Unsure  # a scalar where managedFields records children


def _with_string_data(desired: Obj, live: Obj) -> Obj:
    """``live`` with the ``stringData`` a Secret's apply would leave unchanged, for comparing.

    The API server folds ``stringData`` into ``data`` (base64) on every write and never stores it, while
    managedFields records our ``f:stringData`` members. So a desired ``stringData`` key equals live when live
    ``data`` holds that key's value base64-encoded: the view carries the decoded value under ``stringData``
    for those keys only. A key missing in live, not valid base64 or not UTF-8 is left out (MISSING: unsure,
    a dry run decides), and so is every key when desired sets the same key under both ``data`` and
    ``stringData``. Values are compared in memory only, never shown or logged.
    """
    string_data = desired.get("stringData")
    if (desired.get("kind") != "Secret" or desired.get("apiVersion") != "v1" or not isinstance(string_data, dict)
            or "stringData" in live):
        return live
    data, live_data = desired.get("data"), live.get("data")
    if not isinstance(live_data, dict) or (isinstance(data, dict) and set(data) & set(string_data)):
        return live
    view: dict[str, str] = {}
    for key in string_data:
        encoded = live_data.get(key)
        if not isinstance(encoded, str):
            continue
        try:
            view[key] = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            continue
    return {**live, "stringData": view}


def may_differ(desired: Obj, live: Obj, field_manager: str = FIELD_MANAGER) -> bool:
    """False only when a server-side apply of ``desired`` by ``field_manager`` surely changes nothing:
    every field of ``desired`` has that value in ``live`` (maps key by key, lists element by element with
    the same length, scalars of the same JSON type), and the fields ``field_manager`` owns in live
    (managedFields, operation Apply) are exactly the fields of ``desired``. A Secret's ``stringData`` is
    compared with live ``data`` decoded (``_with_string_data``). True whenever unsure."""
    if desired.get("apiVersion") != live.get("apiVersion") or desired.get("kind") != live.get("kind"):
        return True
    entries = [e for e in managed_fields(live)
               if e.get("manager") == field_manager and e.get("operation") == "Apply" and not e.get("subresource")]
    if len(entries) > 1 or (entries and not isinstance(entries[0].get("fieldsV1"), dict)):
        return True
    try:
        trimmed = _trim_desired(desired)
        fields = _trim_fields(entries[0]["fieldsV1"]) if entries else {}
        if not trimmed:  # nothing but apiVersion/kind/name: we must own nothing either
            return bool(set(fields) - {"."})
        if not entries:
            return True
        _owned_equal(trimmed, _with_string_data(desired, live), fields)
    except (_Unsure, ValueError, TypeError, KeyError, AttributeError):
        return True
    return False
