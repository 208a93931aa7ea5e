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

Limits (a repository is untrusted input; ``yamllimits``): size, document count, nesting depth and alias expansion
raise ``LimitError``. The fast path checks size, count and depth as it goes (it has no aliases); everything the
full loader reads is checked first by ``yamllimits.check``, one pass over libyaml's events that never expands an
alias. ``check`` is also what the sops reader (ruamel.yaml) runs first, and ``safe_load`` is the one-document
reader for any other YAML that comes from a repository.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import yaml
from yaml import events as _ev
from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode

from kubectl_gitops.untrusted import yamllimits
from kubectl_gitops.untrusted.yamllimits import LimitError, check, check_size, too_deep, too_many

try:  # libyaml's parser is ~10x faster than the pure-Python one
    from yaml import CSafeLoader as _BaseLoader
    from yaml.cyaml import CParser as _CParser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

    _CParser = None  # type: ignore[assignment,misc]

_T = "tag:yaml.org,2002:"
STR, NULL, BOOL, INT, FLOAT, TIMESTAMP = (_T + t for t in ("str", "null", "bool", "int", "float", "timestamp"))
MAP, SEQ = _T + "map", _T + "seq"


class DuplicateKeyError(yaml.MarkedYAMLError):
    pass


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



def documents(text: str) -> Iterator[tuple[Any, int, yaml.Node | None]]:
    """(data, 1-based line of the document's first node, node or None) per non-empty document.

    Raises ``yaml.MarkedYAMLError`` at the first syntax error (earlier documents were yielded).
    """
    check_size(text)
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
                if len(stack) >= yamllimits.MAX_DEPTH:
                    raise too_deep(e.start_mark.line + 1)
                value = container = {}
            elif cls is seq_start:
                if e.anchor is not None or e.tag not in (None, "!", SEQ):
                    raise _Fallback
                if len(stack) >= yamllimits.MAX_DEPTH:
                    raise too_deep(e.start_mark.line + 1)
                value = container = []
            elif cls in collection_end:
                stack.pop()
                keys.pop()
                continue
            elif cls is _ev.DocumentStartEvent:
                root = None
                documents += 1
                if documents > yamllimits.MAX_DOCUMENTS:
                    raise too_many(e.start_mark.line + 1)
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
