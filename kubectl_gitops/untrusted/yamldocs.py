"""YAML documents as kubectl reads them: YAML 1.1 (PyYAML's safe loader), timestamps kept as strings (kubectl
sends them as written), and a key given twice in one mapping is an error (the server's strict field validation
rejects it too).

``documents(text)`` yields ``(data, line, node)`` per non-empty document. Most files are read by a fast path that
builds the data straight from libyaml's events: PyYAML's constructor is Python code walking a node graph, and
reading 1,000 manifests with it costs about as much as everything else a no-op diff does. The fast path covers
what manifests use — mappings, sequences, plain and quoted scalars, the standard scalar tags — and gives up
(``_Fallback``) on anything else: anchors and aliases, merge keys, other tags, complex or duplicate keys, a
syntax error, a ``*List`` document (whose items need their own line numbers). The file is then read again by the
full loader, so results and error messages are exactly the full loader's; tests compare both on a corpus.
``node`` is the document's node from the full loader, None from the fast path.

Limits (a repository is untrusted input): a text longer than ``MAX_BYTES``, more than ``MAX_DOCUMENTS``
documents, collections nested deeper than ``MAX_DEPTH``, or aliases that expand into more nodes than go-yaml v3
allows (the "excessive aliasing" rule of the YAML library kubectl and the API server use: up to 99% of the nodes of
a document may come from aliases while it has under 400,000 nodes, falling to 10% at 4,000,000; see
``_alias_budget_exceeded``), and an anchor whose value contains its own alias, raise ``LimitError`` — a
``yaml.MarkedYAMLError``, so callers that report syntax errors with file:line report these the same way. The fast
path checks size, count and depth as it goes (it has no aliases); everything the full loader reads is checked
first by ``check``, one pass over libyaml's events that never expands an alias. ``check`` is also what the sops
reader (ruamel.yaml) runs first, and ``safe_load`` is the one-document reader for any other YAML that comes from a
repository.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import yaml
from yaml import events as _ev
from yaml.constructor import SafeConstructor
from yaml.error import Mark
from yaml.nodes import ScalarNode

try:  # libyaml's parser is ~10x faster than the pure-Python one
    from yaml import CSafeLoader as _BaseLoader
    from yaml.cyaml import CParser as _CParser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

    _CParser = None  # type: ignore[assignment,misc]

_T = "tag:yaml.org,2002:"
STR, NULL, BOOL, INT, FLOAT, TIMESTAMP = (_T + t for t in ("str", "null", "bool", "int", "float", "timestamp"))
MAP, SEQ = _T + "map", _T + "seq"


MAX_BYTES = 32 * 1024 * 1024  # per text (a file, or one renderer's output)
MAX_DOCUMENTS = 10_000  # per text, empty ones included
MAX_DEPTH = 200  # nested mappings and sequences (Python's recursion limit is 1,000; loaders recurse per level)
_ALIAS_LOW, _ALIAS_HIGH = 400_000, 4_000_000  # go-yaml v3's alias_ratio_range_low/high
_LIMIT_HINT = ("split the file or simplify it (fewer documents, less nesting, fewer aliases); a repository's "
               "YAML and JSON may not exceed these limits")


class DuplicateKeyError(yaml.MarkedYAMLError):
    pass


class LimitError(yaml.MarkedYAMLError):
    """The text exceeds one of the limits above. ``problem`` names the limit; ``line`` is 1-based."""

    def __init__(self, problem: str, line: int):
        super().__init__(None, None, problem, Mark("<text>", 0, max(line - 1, 0), 0, None, None))  # type: ignore[arg-type]
        self.line = line
        self.hint = _LIMIT_HINT

    def __str__(self) -> str:
        return f"line {self.line}: {self.problem}"


class Loader(_BaseLoader):
    """Safe loader with kubectl's view of timestamps (strings) and duplicate keys (errors)."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[tuple[str, str], int] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                k = (key_node.tag, key_node.value)
                if k in seen:
                    raise DuplicateKeyError(None, None,
                                            f"key {key_node.value!r} appears twice (first on line {seen[k]})",
                                            key_node.start_mark)
                seen[k] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)  # type: ignore[arg-type]


def _construct_timestamp_as_str(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


Loader.add_constructor(TIMESTAMP, _construct_timestamp_as_str)


def load(text: str) -> Any:
    """One document, with the full loader (small files: Chart.yaml, annotations), within the limits."""
    check(text)
    return yaml.load(text, Loader=Loader)


def safe_load(text: str, source: str) -> Any:
    """One document of YAML that came from a repository (``source`` names it: a repo-relative path), within the
    limits. Any problem is an ``InvalidInputError`` naming ``source:line``, never quoting the content."""
    from kubectl_gitops.errors import InvalidInputError

    try:
        return load(text)
    except LimitError as e:
        raise InvalidInputError(f"{source}:{e.line}: {e.problem}", hint=e.hint) from e
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise InvalidInputError(f"{where}: invalid YAML: {e.problem or e.context or 'syntax error'}",
                                hint="fix the syntax") from e
    except yaml.YAMLError as e:
        raise InvalidInputError(f"{source}: invalid YAML: {e}", hint="fix the syntax") from e


def load_json(text: str) -> Any:
    """``json.loads`` within the same limits (size, nesting depth): JSON manifests and sops JSON files come from a
    repository too. Raises ``LimitError`` (line 1 for size, else the line where the nesting passes the limit) or
    ``json.JSONDecodeError``."""
    import json

    _check_size(text)
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
    raise _too_deep(line)


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


def _check_size(text: str) -> None:
    if len(text) > MAX_BYTES or (len(text) * 4 > MAX_BYTES and len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES):
        raise LimitError(f"the text is larger than {MAX_BYTES // (1024 * 1024)} MiB (the limit per file)", 1)


def _too_deep(line: int) -> LimitError:
    return LimitError(f"mappings and sequences nest deeper than {MAX_DEPTH} levels (the limit)", line)


def _too_many(line: int) -> LimitError:
    return LimitError(f"more than {MAX_DOCUMENTS:,} documents in one file (the limit)", line)


def check(text: str) -> None:
    """Raise ``LimitError`` if ``text`` exceeds a limit, reading libyaml's events once (aliases are counted, never
    expanded). A syntax error ends the check quietly: the loader that reads the text next reports it."""
    _check_size(text)
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
                    raise _too_deep(line)
                if _alias_budget_exceeded(decoded, from_aliases):
                    raise LimitError(f"aliases expand to {from_aliases:,} of the document's {decoded:,} nodes "
                                     "(excessive aliasing, the limit kubectl's YAML reader applies too)", line)
            elif cls in start:
                decoded += 1
                if len(stack) >= MAX_DEPTH:
                    raise _too_deep(e.start_mark.line + 1)
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
                    raise _too_many(e.start_mark.line + 1)
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


def documents(text: str) -> Iterator[tuple[Any, int, yaml.Node | None]]:
    """(data, 1-based line of the document's first node, node or None) per non-empty document.

    Raises ``yaml.MarkedYAMLError`` at the first syntax error (earlier documents were yielded).
    """
    _check_size(text)
    if _CParser is not None:
        try:
            docs = _fast_documents(text)
        except LimitError:
            raise
        except (_Fallback, yaml.YAMLError, RecursionError):
            docs = None
        if docs is not None:
            for data, line in docs:
                yield data, line, None
            return
    check(text)
    yield from _full_documents(text)


def _full_documents(text: str) -> Iterator[tuple[Any, int, yaml.Node]]:
    loader = Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            data = loader.construct_document(node)
            if data is None:
                continue
            yield data, node.start_mark.line + 1, node
    finally:
        loader.dispose()  # type: ignore[no-untyped-call]


# --- the fast path ----------------------------------------------------------------------------------------


class _Fallback(Exception):
    """Something the fast path does not build: read the file with the full loader."""


_NO_KEY = object()  # a mapping waiting for its next key
_SAFE = SafeConstructor()
_BUILD: dict[str, Callable[[str], Any]] = {NULL: lambda v: None, STR: str, TIMESTAMP: str,
          BOOL: lambda v: _SAFE.construct_yaml_bool(ScalarNode(BOOL, v)),
          INT: lambda v: _SAFE.construct_yaml_int(ScalarNode(INT, v)),
          FLOAT: lambda v: _SAFE.construct_yaml_float(ScalarNode(FLOAT, v))}
_RESOLVERS: dict[Any, list[tuple[str, Any]]] = Loader.yaml_implicit_resolvers
_PLAIN: dict[str, Any] = {}  # plain scalar -> value; manifests repeat most of theirs (keys, small values)
_PLAIN_MAX = 64  # longer values are not kept


def _resolve(value: str) -> str:
    """The tag PyYAML's resolver gives a plain scalar (YAML 1.1 implicit types)."""
    for tag, regexp in _RESOLVERS.get(value[0] if value else "", []) + _RESOLVERS.get(None, []):
        if regexp.match(value):
            return str(tag)
    return STR


def _plain(value: str) -> Any:
    try:
        return _PLAIN[value]
    except KeyError:
        pass
    build = _BUILD.get(_resolve(value))
    if build is None:  # merge key, "=" and other tags the safe loader treats specially
        raise _Fallback
    out = build(value)
    if len(value) <= _PLAIN_MAX:
        _PLAIN[value] = out
    return out


def _scalar(e: Any) -> Any:
    tag = e.tag
    if tag is None or tag == "!":
        return _plain(e.value) if e.implicit[0] else e.value
    build = _BUILD.get(tag)
    if build is None:
        raise _Fallback
    return build(e.value)


def _fast_documents(text: str) -> list[tuple[Any, int]]:
    parser: Any = _CParser(text)
    docs: list[tuple[Any, int]] = []
    stack: list[Any] = []  # the open mappings and sequences, innermost last
    keys: list[Any] = []  # per open mapping: its pending key (or _NO_KEY); unused for sequences
    root: Any = None
    line = documents = 0
    scalar_event, map_start, seq_start = _ev.ScalarEvent, _ev.MappingStartEvent, _ev.SequenceStartEvent
    collection_end = (_ev.MappingEndEvent, _ev.SequenceEndEvent)
    try:
        while True:
            e: Any = parser.get_event()
            cls = e.__class__
            container: Any = None
            if cls is scalar_event:
                if e.anchor is not None:
                    raise _Fallback
                value = _scalar(e)
            elif cls is map_start:
                if e.anchor is not None or e.tag not in (None, "!", MAP):
                    raise _Fallback
                if len(stack) >= MAX_DEPTH:
                    raise _too_deep(e.start_mark.line + 1)
                value = container = {}
            elif cls is seq_start:
                if e.anchor is not None or e.tag not in (None, "!", SEQ):
                    raise _Fallback
                if len(stack) >= MAX_DEPTH:
                    raise _too_deep(e.start_mark.line + 1)
                value = container = []
            elif cls in collection_end:
                stack.pop()
                keys.pop()
                continue
            elif cls is _ev.DocumentStartEvent:
                root = None
                documents += 1
                if documents > MAX_DOCUMENTS:
                    raise _too_many(e.start_mark.line + 1)
                continue
            elif cls is _ev.DocumentEndEvent:
                if root is not None:
                    if isinstance(root, dict) and _is_list_kind(root):
                        raise _Fallback  # the full loader knows each item's line
                    docs.append((root, line))
                continue
            elif cls is _ev.StreamEndEvent:
                return docs
            elif cls is _ev.StreamStartEvent:
                continue
            else:  # an alias
                raise _Fallback
            if not stack:
                root, line = value, e.start_mark.line + 1
            else:
                top = stack[-1]
                if top.__class__ is list:
                    top.append(value)
                elif keys[-1] is _NO_KEY:
                    if container is not None or value in top:
                        raise _Fallback  # a complex key, or a duplicate the full loader reports with both lines
                    keys[-1] = value
                else:
                    top[keys[-1]] = value
                    keys[-1] = _NO_KEY
            if container is not None:
                stack.append(container)
                keys.append(_NO_KEY)
    finally:
        parser.dispose()


def _is_list_kind(data: dict[Any, Any]) -> bool:
    kind = data.get("kind")
    return isinstance(kind, str) and kind.endswith("List") and isinstance(data.get("items"), list)
