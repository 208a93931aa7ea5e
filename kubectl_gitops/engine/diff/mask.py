"""Masking: Secret data, last-applied and fields whose value came from a secret never leave unmasked."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from kubectl_gitops.engine.diff.fields import IDENT
from kubectl_gitops.engine.diff.pointer import pointer_tokens
from kubectl_gitops.engine.diff.tree import MISSING, Location, Token, copy_tree, get_location, same
from kubectl_gitops.model import ANN_LAST_APPLIED, Manifest, Obj, ResourceKey, split_api_version

MASK = "***"
MASK_BEFORE = "*** (before)"
MASK_AFTER = "*** (after)"


def _is_secret(obj: Obj | None) -> bool:
    if obj is None or obj.get("kind") != "Secret":
        return False
    return split_api_version(str(obj.get("apiVersion", "")))[0] == ""


class _Masker:
    """kubectl style: ``***``, or ``*** (before)``/``*** (after)`` when a value changed. Argo CD style:
    ``++++++++`` with one more ``+`` per distinct value, so equal values get equal masks."""

    def __init__(self, style: str):
        if style not in ("kubectl", "argo"):
            raise ValueError(f"unknown mask style {style!r}")
        self.style = style
        self.seen: list[Any] = []

    def _argo(self, value: Any) -> str:
        for i, v in enumerate(self.seen):
            if same(v, value):
                return "+" * (8 + i)
        self.seen.append(value)
        return "+" * (8 + len(self.seen) - 1)

    def pair(self, before: Any, after: Any) -> tuple[Any, Any]:
        if self.style == "argo":
            return (MISSING if before is MISSING else self._argo(before),
                    MISSING if after is MISSING else self._argo(after))
        if before is not MISSING and after is not MISSING and not same(before, after):
            return MASK_BEFORE, MASK_AFTER
        return (MISSING if before is MISSING else MASK, MISSING if after is MISSING else MASK)


def _get(obj: Obj | None, path: Sequence[str]) -> Any:
    cur: Any = obj
    for k in path:
        if not isinstance(cur, dict) or k not in cur:
            return MISSING
        cur = cur[k]
    return cur


def _set(obj: Obj | None, path: Sequence[str], value: Any) -> None:
    if value is MISSING or obj is None:
        return
    cur: Any = obj
    for k in path[:-1]:
        cur = cur[k]
    cur[path[-1]] = value


def _mask_value(b: Obj | None, a: Obj | None, path: Sequence[str], masker: _Masker) -> None:
    bv, av = _get(b, path), _get(a, path)
    if bv is MISSING and av is MISSING:
        return
    mb, ma = masker.pair(bv, av)
    _set(b, path, mb)
    _set(a, path, ma)


def _mask_map(b: Obj | None, a: Obj | None, path: Sequence[str], masker: _Masker) -> None:
    bm, am = _get(b, path), _get(a, path)
    if bm is MISSING and am is MISSING:
        return
    if not (isinstance(bm, dict) or bm is MISSING or bm is None) or \
            not (isinstance(am, dict) or am is MISSING or am is None):
        _mask_value(b, a, path, masker)  # not a map: mask it whole
        return
    bm = bm if isinstance(bm, dict) else {}
    am = am if isinstance(am, dict) else {}
    for k in list(dict.fromkeys([*bm, *am])):
        mb, ma = masker.pair(bm.get(k, MISSING), am.get(k, MISSING))
        if mb is not MISSING:
            bm[k] = mb
        if ma is not MISSING:
            am[k] = ma


def mask_secrets(before: Obj | None, after: Obj | None, *, style: str = "kubectl",
                 pointers: Sequence[str] = ()) -> tuple[Obj | None, Obj | None]:
    """Copies of both sides with every secret value masked; keys are kept so the diff still shows which
    entries were added, removed or changed. Masked: Secret ``data`` and ``stringData``, the
    last-applied-configuration annotation on any kind, and any extra ``pointers`` (RFC 6901) a user marks.
    ``style="argo"`` gives Argo CD's ``++++++++`` masks instead."""
    b = copy_tree(before) if before is not None else None
    a = copy_tree(after) if after is not None else None
    return mask_in_place(b, a, style=style, pointers=pointers)


def mask_in_place(b: Obj | None, a: Obj | None, *, style: str = "kubectl",
                   pointers: Sequence[str] = ()) -> tuple[Obj | None, Obj | None]:
    masker = _Masker(style)
    if _is_secret(b) or _is_secret(a):
        for fld in ("data", "stringData"):
            _mask_map(b, a, (fld,), masker)
    _mask_value(b, a, ("metadata", "annotations", ANN_LAST_APPLIED), masker)
    for pointer in pointers:  # map paths only; a pointer through a list masks nothing
        _mask_value(b, a, pointer_tokens(pointer), masker)
    return b, a


# Masking by provenance (see kubectl_gitops.redact and secrets.provenance): the fields of the desired object
# whose values came from a secret (sops-encrypted leaves, substituted placeholders) are masked on both sides,
# in any kind; the same value anywhere else is shown, with a warning. Secret data/stringData stay fully masked.

_LIST_KEYS = ("name", "containerPort", "mountPath", "devicePath", "key", "ip", "port", "type")


def _locate(target: Any, desired: Any, path: tuple[Any, ...]) -> Location | None:
    """Where a desired field is in ``target`` (live or dry-run result): list items are found by their key
    field (``name``, ``containerPort``, ...) as server-side apply merges them, else by position."""
    loc: list[Token] = []
    cur_t, cur_d = target, desired
    for seg in path:
        if isinstance(seg, int):
            if not isinstance(cur_t, list) or not isinstance(cur_d, list) or not 0 <= seg < len(cur_d):
                return None
            item = cur_d[seg]
            idx: int | None = None
            if isinstance(item, dict):
                for k in _LIST_KEYS:
                    if isinstance(item.get(k), (str, int)) and not isinstance(item.get(k), bool):
                        hits = [i for i, x in enumerate(cur_t) if isinstance(x, dict) and same(x.get(k), item[k])]
                        if len(hits) == 1:
                            idx = hits[0]
                            break
            if idx is None:
                if seg >= len(cur_t):
                    return None
                idx = seg
            loc.append(idx)
            cur_t, cur_d = cur_t[idx], item
        else:
            if not isinstance(cur_t, dict) or seg not in cur_t or not isinstance(cur_d, dict) or seg not in cur_d:
                return None
            loc.append(seg)
            cur_t, cur_d = cur_t[seg], cur_d[seg]
    return tuple(loc)


def location_string(loc: Sequence[Any]) -> str:
    out = ""
    for t in loc:
        if isinstance(t, int):
            out += f"[{t}]"
        else:
            out += (("." if out else "") + t) if IDENT.match(t) else f"[{json.dumps(t)}]"
    return out


def set_location(obj: Any, loc: Location, value: Any) -> None:
    parent = get_location(obj, loc[:-1])
    parent[loc[-1]] = value


def mask_provenance(b: Obj | None, a: Obj | None, desired: Obj, fields: frozenset[tuple[Any, ...]], *,
                    style: str = "kubectl") -> list[str]:
    """Mask, in place, the fields of ``b`` (live) and ``a`` (after) that hold a secret-sourced field of
    ``desired``; returns their paths (sorted). Identity fields are never among ``fields``."""
    masker = _Masker(style)
    masked: set[str] = set()
    for path in sorted(fields, key=lambda p: tuple(str(x) for x in p)):
        if not path:
            continue
        lb = _locate(b, desired, path) if b is not None else None
        la = _locate(a, desired, path) if a is not None else None
        bv = get_location(b, lb) if lb else MISSING
        av = get_location(a, la) if la else MISSING
        if bv is MISSING and av is MISSING:
            continue
        mb, ma = masker.pair(bv, av)
        if lb and mb is not MISSING:
            set_location(b, lb, mb)
        if la and ma is not MISSING:
            set_location(a, la, ma)
        masked.add(location_string(la or lb or path))
    return sorted(masked)


def _strings_of(node: Any, loc: tuple[Token, ...] = ()) -> Iterator[tuple[tuple[Token, ...], str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings_of(v, (*loc, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _strings_of(v, (*loc, i))
    elif isinstance(node, str):
        yield loc, node


def provenance_warnings(key: ResourceKey, b: Obj | None, a: Obj | None) -> list[str]:
    """One warning per field of the (masked) sides that holds a value equal to a registered secret value
    (in any printed form) although it did not come from a secret: shown unmasked, so that a pull request
    cannot hide a change by encrypting its text elsewhere."""
    from kubectl_gitops.redact import contains_secret_value

    where: dict[str, set[str]] = {}
    for side, obj in (("live", b), ("after", a)):
        for loc, text in _strings_of(obj):
            if text not in (MASK, MASK_BEFORE, MASK_AFTER) and contains_secret_value(text):
                where.setdefault(location_string(loc), set()).add(side)
    out = []
    for path, sides in sorted(where.items()):
        only = " (live object)" if sides == {"live"} else ""
        out.append(f"value equal to a decrypted secret appears in {path} of {key}{only}, which is not from a "
                   "secret; shown unmasked")
    return out


def mask_change(desired: Manifest | None, b: Obj | None, a: Obj | None) -> tuple[Obj | None, Obj | None,
                                                                                   list[str], list[str]]:
    """Both sides masked (Secret data, last-applied, provenance) and the provenance warnings."""
    b, a = mask_in_place(b, a)
    masked = mask_provenance(b, a, desired.obj, desired.secret_fields) if desired and desired.secret_fields else []
    key = desired.key if desired is not None else ResourceKey.of(b or a or {})
    return b, a, masked, provenance_warnings(key, b, a)
