"""Limits on the YAML and JSON a repository gives: size, document count, nesting depth and alias expansion.

A text longer than ``MAX_BYTES``, more than ``MAX_DOCUMENTS`` documents, collections nested deeper than
``MAX_DEPTH``, or aliases that expand into more nodes than go-yaml v3 allows (the "excessive aliasing" rule of the
YAML library kubectl and the API server use: up to 99% of the nodes of a document may come from aliases while it
has under 400,000 nodes, falling to 10% at 4,000,000; see ``_alias_budget_exceeded``), and an anchor whose value
contains its own alias, raise ``LimitError`` — a ``yaml.MarkedYAMLError``, so callers that report syntax errors
with file:line report these the same way. ``check`` is one pass over libyaml's events that never expands an
alias; ``load_json`` is ``json.loads`` within the same limits.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml import events as _ev
from yaml.error import Mark

try:  # libyaml's parser is ~10x faster than the pure-Python one
    from yaml import CSafeLoader as _BaseLoader
    from yaml.cyaml import CParser as _CParser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

    _CParser = None  # type: ignore[assignment,misc]

MAX_BYTES = 32 * 1024 * 1024  # per text (a file, or one renderer's output)
MAX_DOCUMENTS = 10_000  # per text, empty ones included
MAX_DEPTH = 200  # nested mappings and sequences (Python's recursion limit is 1,000; loaders recurse per level)
_ALIAS_LOW, _ALIAS_HIGH = 400_000, 4_000_000  # go-yaml v3's alias_ratio_range_low/high
_LIMIT_HINT = ("split the file or simplify it (fewer documents, less nesting, fewer aliases); a repository's "
               "YAML and JSON may not exceed these limits")


class LimitError(yaml.MarkedYAMLError):
    """The text exceeds one of the limits above. ``problem`` names the limit; ``line`` is 1-based."""

    def __init__(self, problem: str, line: int):
        super().__init__(None, None, problem, Mark("<text>", 0, max(line - 1, 0), 0, None, None))  # type: ignore[arg-type]
        self.line = line
        self.hint = _LIMIT_HINT

    def __str__(self) -> str:
        return f"line {self.line}: {self.problem}"


def load_json(text: str) -> Any:
    """``json.loads`` within the same limits (size, nesting depth): JSON manifests and sops JSON files come from a
    repository too. Raises ``LimitError`` (line 1 for size, else the line where the nesting passes the limit) or
    ``json.JSONDecodeError``."""
    import json

    check_size(text)
    try:
        data = json.loads(text)
    except RecursionError:
        data = None  # deeper than Python's own limit: find the line below
    else:
        if _depth_within(data):
            return data
    depth = 0
    in_string = escaped = False
    line = 1
    for ch in text:  # only for a text already known to be too deep
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                break
        elif ch in "]}":
            depth -= 1
        if ch == "\n":
            line += 1
    raise too_deep(line)


def _depth_within(data: Any) -> bool:
    """True when ``data`` nests at most MAX_DEPTH lists and dicts (an explicit stack: no recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_DEPTH:
            return False
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return True


def _alias_budget_exceeded(decoded: int, from_aliases: int) -> bool:
    """go-yaml v3's rule (decode.go, allowedAliasRatio): more than 100 alias-made nodes in a document of more
    than 1,000, and a share of them above 99% (up to 400,000 nodes), 10% (from 4,000,000), linear between."""
    if from_aliases <= 100 or decoded <= 1000:
        return False
    if decoded <= _ALIAS_LOW:
        allowed = 0.99
    elif decoded >= _ALIAS_HIGH:
        allowed = 0.10
    else:
        allowed = 0.99 - 0.89 * (decoded - _ALIAS_LOW) / (_ALIAS_HIGH - _ALIAS_LOW)
    return from_aliases / decoded > allowed


def check_size(text: str) -> None:
    if len(text) > MAX_BYTES or (len(text) * 4 > MAX_BYTES and len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES):
        raise LimitError(f"the text is larger than {MAX_BYTES // (1024 * 1024)} MiB (the limit per file)", 1)


def too_deep(line: int) -> LimitError:
    return LimitError(f"mappings and sequences nest deeper than {MAX_DEPTH} levels (the limit)", line)


def too_many(line: int) -> LimitError:
    return LimitError(f"more than {MAX_DOCUMENTS:,} documents in one file (the limit)", line)


def check(text: str) -> None:
    """Raise ``LimitError`` if ``text`` exceeds a limit, reading libyaml's events once (aliases are counted, never
    expanded). A syntax error ends the check quietly: the loader that reads the text next reports it."""
    check_size(text)
    parser: Any = _CParser(text) if _CParser is not None else yaml.parse(text, Loader=_BaseLoader)
    get = parser.get_event if _CParser is not None else parser.__next__
    sizes: dict[str, tuple[int, int]] = {}  # anchor -> (nodes its value expands to, nesting levels)
    stack: list[list[Any]] = []  # per open collection: [nodes so far, levels below, anchor]
    open_anchors: set[str] = set()
    documents = decoded = from_aliases = 0
    scalar, alias, end = _ev.ScalarEvent, _ev.AliasEvent, (_ev.MappingEndEvent, _ev.SequenceEndEvent)
    start = (_ev.MappingStartEvent, _ev.SequenceStartEvent)
    try:
        while True:
            try:
                e: Any = get()
            except (yaml.YAMLError, StopIteration):
                return
            cls = e.__class__
            if cls is scalar:
                n, levels = 1, 0
                decoded += 1
                if e.anchor is not None:
                    sizes[e.anchor] = (1, 0)
            elif cls is alias:
                line = e.start_mark.line + 1
                if e.anchor in open_anchors:
                    raise LimitError(f"the anchor &{e.anchor} contains an alias to itself", line)
                n, levels = sizes.get(e.anchor, (1, 0))  # an undefined alias: the loader reports it
                decoded += n
                from_aliases += n
                if len(stack) + levels > MAX_DEPTH:
                    raise too_deep(line)
                if _alias_budget_exceeded(decoded, from_aliases):
                    raise LimitError(f"aliases expand to {from_aliases:,} of the document's {decoded:,} nodes "
                                     "(excessive aliasing, the limit kubectl's YAML reader applies too)", line)
            elif cls in start:
                decoded += 1
                if len(stack) >= MAX_DEPTH:
                    raise too_deep(e.start_mark.line + 1)
                stack.append([1, 0, e.anchor])
                if e.anchor is not None:
                    open_anchors.add(e.anchor)
                continue
            elif cls in end:
                n, below, anchor = stack.pop()
                levels = below + 1
                if anchor is not None:
                    sizes[anchor] = (n, levels)
                    open_anchors.discard(anchor)
            elif cls is _ev.DocumentStartEvent:
                documents += 1
                if documents > MAX_DOCUMENTS:
                    raise too_many(e.start_mark.line + 1)
                sizes.clear()
                decoded = from_aliases = 0
                continue
            elif cls is _ev.StreamEndEvent:
                return
            else:
                continue
            if stack:
                top = stack[-1]
                top[0] += n
                if levels > top[1]:
                    top[1] = levels
    finally:
        if _CParser is not None:
            parser.dispose()
