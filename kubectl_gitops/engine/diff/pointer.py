"""JSON pointers (RFC 6901): parse one and find where it points in an object."""

from __future__ import annotations

import re
from typing import Any

from kubectl_gitops.engine.diff.tree import Location, Token


def pointer_tokens(pointer: str) -> list[str]:
    if not pointer.startswith("/"):
        raise ValueError("a JSON pointer starts with '/', e.g. /spec/replicas")
    tokens = pointer[1:].split("/")
    for t in tokens:
        if re.search(r"~(?![01])", t):
            raise ValueError("'~' must be escaped as ~0 ('~') or ~1 ('/')")
    return [t.replace("~1", "/").replace("~0", "~") for t in tokens]


def pointer_location(obj: Any, pointer: str) -> Location | None:
    """Concrete location of a pointer in ``obj`` (list indices resolved), or None when absent."""
    loc: list[Token] = []
    cur = obj
    for t in pointer_tokens(pointer):
        if isinstance(cur, dict) and t in cur:
            loc.append(t)
            cur = cur[t]
        elif isinstance(cur, list) and t.isdigit() and (t == "0" or not t.startswith("0")) and int(t) < len(cur):
            loc.append(int(t))
            cur = cur[int(t)]
        else:
            return None
    return tuple(loc)
