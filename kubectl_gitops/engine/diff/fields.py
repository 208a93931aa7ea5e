"""managedFields ``fieldsV1`` paths: parse them, resolve and remove them in an object, print them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from kubectl_gitops.engine.diff.tree import MISSING, same
from kubectl_gitops.model import Obj

Seg = tuple[str, Any]  # ("f", name) | ("k", {key fields}) | ("v", value) | ("i", index)
FieldPath = tuple[Seg, ...]


def parse_member(member: str) -> Seg:
    kind, sep, rest = member.partition(":")
    if not sep:
        raise ValueError(f"bad fieldsV1 member {member!r}")
    if kind == "f":
        return ("f", rest)
    if kind == "k":
        key = json.loads(rest)
        if not isinstance(key, dict):
            raise ValueError(f"bad fieldsV1 key {member!r}")
        return ("k", key)
    if kind == "v":
        return ("v", json.loads(rest))
    if kind == "i":
        return ("i", int(rest))
    raise ValueError(f"bad fieldsV1 member {member!r}")


def owned_paths(fields: Any, prefix: FieldPath = ()) -> Iterator[FieldPath]:
    """Leaf paths of a fieldsV1 set. A list item owned only as a whole (``{".": {}}``) is a leaf."""
    if not isinstance(fields, dict):
        raise ValueError("fieldsV1 node is not a map")
    for member, child in fields.items():
        if member == ".":
            continue
        seg = parse_member(member)
        path = (*prefix, seg)
        if not isinstance(child, dict):
            raise ValueError(f"fieldsV1 member {member!r} is not a map")
        if not child or (seg[0] != "f" and set(child) == {"."}):
            yield path
        else:
            yield from owned_paths(child, path)


def entry_paths(entry: dict[str, Any]) -> list[FieldPath]:
    """Leaf paths a managedFields entry owns; [] when its fieldsV1 cannot be read (nothing is claimed then)."""
    try:
        return list(owned_paths(entry.get("fieldsV1") or {}))
    except (ValueError, TypeError):
        return []


def key_matches(item: Any, key: dict[str, Any]) -> bool:
    return isinstance(item, dict) and all(k in item and same(item[k], v) for k, v in key.items())


def find_item(items: list[Any], seg: Seg) -> int | None:
    kind, arg = seg
    if kind == "k":
        return next((i for i, item in enumerate(items) if key_matches(item, arg)), None)
    if kind == "v":
        return next((i for i, item in enumerate(items) if same(item, arg)), None)
    if kind == "i":
        return arg if 0 <= arg < len(items) else None
    return None


def resolve(obj: Any, path: FieldPath) -> Any:
    """The value at a managedFields path, or ``MISSING``."""
    cur = obj
    for seg in path:
        if seg[0] == "f":
            if not isinstance(cur, dict) or seg[1] not in cur:
                return MISSING
            cur = cur[seg[1]]
        else:
            if not isinstance(cur, list):
                return MISSING
            i = find_item(cur, seg)
            if i is None:
                return MISSING
            cur = cur[i]
    return cur


def remove(obj: Any, path: FieldPath) -> None:
    """Delete the value at a managedFields path, if present."""
    if not path:
        return
    parent = resolve(obj, path[:-1])
    seg = path[-1]
    if seg[0] == "f":
        if isinstance(parent, dict):
            parent.pop(seg[1], None)
    elif isinstance(parent, list):
        i = find_item(parent, seg)
        if i is not None:
            del parent[i]


IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")
_PLAIN = re.compile(r"^[A-Za-z0-9_.:/@+-]+$")


def _scalar_text(value: Any) -> str:
    if isinstance(value, str) and _PLAIN.match(value):
        return value
    return json.dumps(value, sort_keys=True)


def path_string(path: FieldPath) -> str:
    """``spec.template.spec.containers[name=web].image``; ``metadata.labels["app.kubernetes.io/name"]``;
    ``ports[containerPort=80,protocol=TCP]``; set items ``finalizers[=example.com/x]``; indices ``[0]``."""
    out = ""
    for kind, arg in path:
        if kind == "f":
            out += (("." if out else "") + arg) if IDENT.match(arg) else f"[{json.dumps(arg)}]"
        elif kind == "k":
            out += "[" + ",".join(f"{k}={_scalar_text(v)}" for k, v in arg.items()) + "]"
        elif kind == "v":
            out += f"[={_scalar_text(arg)}]"
        else:
            out += f"[{arg}]"
    return out


def managed_fields(obj: Obj | None) -> list[dict[str, Any]]:
    if not obj:
        return []
    entries = (obj.get("metadata") or {}).get("managedFields") or []
    return [e for e in entries if isinstance(e, dict)]
