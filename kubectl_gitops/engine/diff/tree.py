"""Plain JSON trees: a fast deep copy, type-strict equality, and reading/deleting by concrete location."""

from __future__ import annotations

from typing import Any

MISSING: Any = object()


def copy_tree(value: Any) -> Any:
    """Deep copy of a JSON tree; several times faster than copy.deepcopy and never shares nodes."""
    if isinstance(value, dict):
        return {k: copy_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_tree(v) for v in value]
    return value


def same(a: Any, b: Any) -> bool:
    """Equality that keeps JSON types apart: ``1 != "1"``, ``1 != 1.0``, ``True != 1``."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


Token = str | int
Location = tuple[Token, ...]  # keys and list indices from the root

def get_location(obj: Any, loc: Location) -> Any:
    cur = obj
    for t in loc:
        in_map = isinstance(cur, dict) and isinstance(t, str) and t in cur
        in_list = isinstance(cur, list) and isinstance(t, int) and 0 <= t < len(cur)
        if not (in_map or in_list):
            return MISSING
        cur = cur[t]  # type: ignore[index]
    return cur


def delete_locations(obj: Any, locations: list[Location]) -> None:
    """Delete several locations; deepest and highest list index first so the others stay valid."""
    def sort_key(loc: Location) -> tuple[tuple[int, Any], ...]:
        return tuple((1, t) if isinstance(t, int) else (0, t) for t in loc)

    for loc in sorted(set(locations), key=sort_key, reverse=True):
        if not loc:
            continue
        parent = get_location(obj, loc[:-1])
        last = loc[-1]
        if isinstance(parent, dict) and isinstance(last, str):
            parent.pop(last, None)
        elif isinstance(parent, list) and isinstance(last, int) and 0 <= last < len(parent):
            del parent[last]
