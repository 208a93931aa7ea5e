"""Label selectors as kubectl's ``-l/--selector`` parses them, and matching an object's labels against one.

Grammar (k8s.io/apimachinery ``labels.Parse``): requirements separated by commas, each one of
``key=value``, ``key==value``, ``key!=value``, ``key in (a,b)``, ``key notin (a,b)``, ``key`` (exists),
``!key`` (does not exist); ``key!=v`` and ``notin`` also match objects without the key, as in Kubernetes.
Keys are ``[prefix/]name`` label keys; values are label values (possibly empty).

Hand-written: the kubernetes Python client passes selectors to the server as strings and has no parser,
and the desired objects are filtered here, before anything is sent, so the selector must be checked locally.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from kubectl_gitops.errors import UsageError

_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_KEY = re.compile(rf"^(?:[a-z0-9](?:[-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_NAME}$")
_VALUE = re.compile(rf"^(?:{_NAME})?$")
_TOKEN = re.compile(r"\s*(\(|\)|,|!=|==|=|!|[^\s(),!=]+)")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        has = self.key in labels
        if self.op == "exists":
            return has
        if self.op == "!":
            return not has
        if self.op in ("=", "in"):
            return has and labels[self.key] in self.values
        return not has or labels[self.key] not in self.values  # != and notin

    def __str__(self) -> str:
        if self.op == "exists":
            return self.key
        if self.op == "!":
            return f"!{self.key}"
        if self.op in ("=", "!="):
            return f"{self.key}{self.op}{self.values[0]}"
        return f"{self.key} {self.op} ({','.join(self.values)})"


@dataclass(frozen=True)
class Selector:
    """All requirements must hold. The empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()
    text: str = ""

    def __bool__(self) -> bool:
        return bool(self.requirements)

    def matches(self, obj_or_labels: Mapping[str, object]) -> bool:
        labels = labels_of(obj_or_labels) if "metadata" in obj_or_labels else obj_or_labels
        str_labels = {str(k): str(v) for k, v in labels.items()}
        return all(r.matches(str_labels) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def labels_of(obj: Mapping[str, object]) -> Mapping[str, object]:
    meta = obj.get("metadata")
    labels = meta.get("labels") if isinstance(meta, Mapping) else None
    return labels if isinstance(labels, Mapping) else {}


def _bad(text: str, why: str) -> UsageError:
    return UsageError(f"invalid label selector {text!r} for -l/--selector: {why}",
                      hint="use kubectl's syntax, e.g. -l app=web,tier!=cache or -l 'env in (prod,staging)'")


def parse_selector(text: str) -> Selector:
    """Parse ``text``; a ``UsageError`` (exit 2) names what is wrong."""
    tokens = _tokens(text)
    reqs: list[Requirement] = []
    i = 0

    def take() -> str:
        nonlocal i
        if i >= len(tokens):
            raise _bad(text, "it ends too early")
        i += 1
        return tokens[i - 1]

    def key(tok: str) -> str:
        if not _KEY.match(tok):
            raise _bad(text, f"{tok!r} is not a valid label key")
        return tok

    def value(tok: str) -> str:
        if not _VALUE.match(tok):
            raise _bad(text, f"{tok!r} is not a valid label value")
        return tok

    while i < len(tokens):
        tok = take()
        if tok == "!":
            reqs.append(Requirement(key(take()), "!"))
        else:
            k = key(tok)
            nxt = tokens[i] if i < len(tokens) else ","
            if nxt == ",":
                reqs.append(Requirement(k, "exists"))
            elif nxt in ("=", "==", "!="):
                i += 1
                v = tokens[i] if i < len(tokens) and tokens[i] != "," else ""
                if v:
                    i += 1
                reqs.append(Requirement(k, "!=" if nxt == "!=" else "=", (value(v),)))
            elif nxt in ("in", "notin"):
                i += 1
                if take() != "(":
                    raise _bad(text, f"'{nxt}' needs a list in parentheses")
                values: list[str] = []
                while True:
                    v = take()
                    if v == ")" and not values:
                        raise _bad(text, f"'{nxt}' needs at least one value")
                    values.append(value(v))
                    sep = take()
                    if sep == ")":
                        break
                    if sep != ",":
                        raise _bad(text, f"expected ',' or ')' after {v!r}")
                reqs.append(Requirement(k, nxt, tuple(values)))
            else:
                raise _bad(text, f"unexpected {nxt!r} after {k!r}")
        if i < len(tokens):
            if tokens[i] != ",":
                raise _bad(text, f"expected ',' before {tokens[i]!r}")
            i += 1
            if i == len(tokens):
                raise _bad(text, "it ends with ','")
    return Selector(tuple(reqs), text)


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:  # pragma: no cover - the pattern matches any non-space character
            raise _bad(text, f"unexpected character at {pos}")
        out.append(m.group(1))
        pos = m.end()
    if not out:
        raise _bad(text, "it is empty")
    return out
