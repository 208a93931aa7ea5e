"""The safe jq subset of ignore rules (``jqPathExpressions``): parse once, evaluate to locations."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from kubectl_gitops.engine.diff.tree import Location, get_location, same
from kubectl_gitops.untrusted import saferegex


class Jq:
    """A safe subset of jq path expressions, enough for Argo CD's documented ignoreDifferences uses::

        .spec.replicas          .metadata.annotations."example.com/x"     .metadata.labels["a/b"]
        .spec.containers[0]     .spec.template.spec.initContainers[] | select(.name == "istio-init")
        .spec.rules[] | select(.host | startswith("tmp-")) | .http

    Stages are joined by ``|``; a stage is a path (``.a``, ``."a"``, ``["a"]``, ``[0]``, ``[]``,
    optional ``?``) or ``select(PATH == LIT)``, ``!=``, or ``select(PATH | startswith/endswith/
    contains/test(STRING))``. Evaluation yields locations; the rule deletes them (jq's ``del``).
    """

    _TOKEN = re.compile(r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*")
      | (?P<num>-?\d+(?:\.\d+)?)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>==|!=|[.\[\]|()?])
    )""", re.VERBOSE)
    FUNCS: dict[str, Callable[[str, str], bool]] = {
        "startswith": lambda s, a: s.startswith(a),
        "endswith": lambda s, a: s.endswith(a),
        "contains": lambda s, a: a in s,
        "test": lambda s, a: saferegex.search(a, s, "test() pattern"),
    }

    def __init__(self, expr: str):
        self.expr = expr
        self.tokens: list[tuple[str, Any]] = []
        pos = 0
        text = expr.strip()
        while pos < len(text):
            m = self._TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise ValueError(f"unexpected {text[pos:pos + 10]!r}")
            pos = m.end()
            kind = m.lastgroup or ""
            value: Any = m.group(kind)
            if kind in ("str", "num"):
                value = json.loads(value)
            self.tokens.append((kind, value))
        self.i = 0
        self.stages = self._pipeline()
        if self.i != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.i][1]!r}")

    # parsing
    def _peek(self) -> tuple[str, Any]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", None)

    def _take(self, kind: str, value: Any = None) -> Any:
        k, v = self._peek()
        if k != kind or (value is not None and v != value):
            want = value if value is not None else kind
            raise ValueError(f"expected {want!r}, found {v if k != 'end' else 'the end'!r}")
        self.i += 1
        return v

    def _pipeline(self) -> list[tuple[str, Any]]:
        stages = [self._stage()]
        while self._peek() == ("op", "|"):
            self._take("op", "|")
            stages.append(self._stage())
        return stages

    def _stage(self) -> tuple[str, Any]:
        if self._peek() == ("ident", "select"):
            self._take("ident")
            self._take("op", "(")
            path = self._path()
            k, v = self._peek()
            if (k, v) in (("op", "=="), ("op", "!=")):
                self._take("op")
                lit_kind, lit = self._peek()
                if lit_kind == "ident" and lit in ("true", "false", "null"):
                    lit = {"true": True, "false": False, "null": None}[lit]
                elif lit_kind not in ("str", "num"):
                    raise ValueError("select() compares with a string, number, true, false or null")
                self.i += 1
                cond: tuple[Any, ...] = (v, path, lit)
            elif (k, v) == ("op", "|"):
                self._take("op", "|")
                fn = self._take("ident")
                if fn not in self.FUNCS:
                    raise ValueError(f"{fn}() is not supported (use one of {', '.join(self.FUNCS)})")
                self._take("op", "(")
                arg = self._take("str")
                self._take("op", ")")
                if fn == "test":  # RE2 (Go's syntax, as gojq): linear time whatever the pattern
                    try:
                        saferegex.compile(arg, "test() pattern")
                    except saferegex.RegexError as e:
                        raise ValueError(f"{e} ({e.hint})") from e
                cond = (fn, path, arg)
            else:
                raise ValueError("select() takes PATH == VALUE, PATH != VALUE or PATH | startswith(...)")
            self._take("op", ")")
            return ("select", cond)
        return ("path", self._path())

    def _path(self) -> list[tuple[str, Any]]:
        if self._peek() != ("op", "."):
            raise ValueError("a path starts with '.'")
        steps: list[tuple[str, Any]] = []
        while True:
            k, v = self._peek()
            if (k, v) == ("op", "."):
                self.i += 1
                nk, nv = self._peek()
                if nk in ("ident", "str"):
                    self.i += 1
                    steps.append(("key", nv))
                elif (nk, nv) == ("op", "["):
                    continue
                elif not steps and (nk == "end" or (nk, nv) in (("op", "|"), ("op", ")"), ("op", "=="),
                                                               ("op", "!="))):
                    break  # "." alone: the input itself
                else:
                    raise ValueError(f"unexpected {nv if nk != 'end' else 'end'!r} after '.'")
            elif (k, v) == ("op", "["):
                self.i += 1
                nk, nv = self._peek()
                if (nk, nv) == ("op", "]"):
                    steps.append(("each", None))
                elif nk == "str" or (nk == "num" and isinstance(nv, int)):
                    steps.append(("key" if nk == "str" else "index", nv))
                    self.i += 1
                else:
                    raise ValueError("[...] takes a string, an integer or nothing")
                self._take("op", "]")
            elif (k, v) == ("op", "?"):
                self.i += 1  # errors are suppressed anyway: a missing path matches nothing
            else:
                return steps
        return steps

    # evaluation
    @staticmethod
    def _walk(obj: Any, base: Location, steps: list[tuple[str, Any]]) -> Iterator[Location]:
        if not steps:
            yield base
            return
        (kind, arg), rest = steps[0], steps[1:]
        cur = get_location(obj, base)
        if kind == "key":
            if isinstance(cur, dict) and arg in cur:
                yield from Jq._walk(obj, (*base, arg), rest)
        elif kind == "index":
            if isinstance(cur, list):
                i = arg if arg >= 0 else len(cur) + arg
                if 0 <= i < len(cur):
                    yield from Jq._walk(obj, (*base, i), rest)
        elif isinstance(cur, list):
            for i in range(len(cur)):
                yield from Jq._walk(obj, (*base, i), rest)
        elif isinstance(cur, dict):
            for k in list(cur):
                yield from Jq._walk(obj, (*base, k), rest)

    def locations(self, obj: Any) -> list[Location]:
        current: list[Location] = [()]
        for kind, arg in self.stages:
            if kind == "path":
                current = [loc for base in current for loc in self._walk(obj, base, arg)]
            else:
                op, path, lit = arg
                kept = []
                for loc in current:
                    values = [get_location(obj, p) for p in self._walk(obj, loc, path)]
                    value = values[0] if values else None
                    if op == "==":
                        ok = same(value, lit) or (isinstance(lit, (int, float)) and value == lit
                                                    and not isinstance(value, bool))
                    elif op == "!=":
                        ok = not same(value, lit)
                    else:
                        ok = isinstance(value, str) and self.FUNCS[op](value, lit)
                    if ok:
                        kept.append(loc)
                current = kept
        return [loc for loc in current if loc]


_JQ_CACHE: dict[str, Jq] = {}


def compile_jq(expr: str) -> Jq:
    compiled = _JQ_CACHE.get(expr)
    if compiled is None:
        compiled = _JQ_CACHE[expr] = Jq(expr)
    return compiled
