"""YAML for sops files: round-trip (comments, key order, quoting, indentation) with yaml.v3 types.

ruamel.yaml parses and writes the text and keeps comments and layout; we switch its implicit
typing off so that every plain scalar arrives as the text that was written (a ``str`` of exactly
type ``str``), and type it ourselves with yaml.v3's rules (``gotypes.resolve_plain``). Unchanged
values are written back byte for byte; values we replace (``ENC[...]`` or decrypted plaintext) are
written plain when that reads back as the same value, quoted otherwise.

Comments: sops encrypts comments too, with the path of the mapping (or sequence) that holds them as
additional data. ruamel hangs a comment on a neighbouring node, so ``comment_lines`` works out the
holder from positions: the innermost collection whose block contains the comment's line at an
indentation no smaller than the collection's own (see ``_comment_path``).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kubectl_gitops.secrets.gotypes import (
    UnsupportedValue,
    Value,
    parse_yaml_timestamp,
    python_scalar_value,
    resolve_plain,
)
from kubectl_gitops.secrets.gotypes import resolves_to_str as _v3_plain_ok
from kubectl_gitops.secrets.gotypes import yaml_float_text as _float_text


class YamlError(ValueError):
    """The text is not YAML we can handle; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


@dataclass
class Layout:
    """Indentation to write back with, guessed from the input so diffs stay small."""

    mapping: int = 2
    sequence: int = 2
    offset: int = 0
    explicit_start: bool = False
    header: str = ""  # comment lines before the first "---" (ruamel would drop them)


def _ruamel() -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode
    from ruamel.yaml.resolver import VersionedResolver

    class TextResolver(VersionedResolver):
        """No implicit types: a plain scalar stays the text it was (typed later with yaml.v3 rules)."""

        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            if kind is ScalarNode:
                return self.DEFAULT_SCALAR_TAG
            if kind is SequenceNode:
                return self.DEFAULT_SEQUENCE_TAG
            if kind is MappingNode:
                return self.DEFAULT_MAPPING_TAG
            return super().resolve(kind, value, implicit)

    y = YAML(typ="rt", pure=True)
    y.Resolver = TextResolver
    y.preserve_quotes = True
    y.width = 1 << 30
    return y


def guess_layout(text: str) -> Layout:
    """Mapping indent, sequence dash offset and sequence indent of the first nested blocks found."""
    layout = Layout()
    header: list[str] = []
    for raw in text.splitlines(keepends=True):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            header.append(raw)
            continue
        if stripped == "---" or stripped.startswith("--- "):
            layout.explicit_start = True
            layout.header = "".join(header) if any(h.strip() for h in header) else ""
        break
    mapping = offset = None
    prev: tuple[int, str] | None = None
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#") or stripped.startswith("---"):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        if prev is not None and indent > prev[0] and re.search(r":\s*(#.*)?$", prev[1]):
            if stripped.startswith("- ") or stripped == "-":
                if offset is None:
                    offset = indent - prev[0]
            elif mapping is None and not prev[1].lstrip().startswith("- "):
                mapping = indent - prev[0]
        prev = (indent, raw)
        if mapping is not None and offset is not None:
            break
    layout.mapping = mapping or 2
    layout.offset = offset if offset is not None else 0
    layout.sequence = max(layout.offset + 2, layout.mapping if offset is None else layout.offset + 2)
    return layout


def _is_empty_document(doc: Any) -> bool:
    return doc is None or (type(doc) is str and doc == "")


def load_all(text: str) -> tuple[list[Any], Layout]:
    """Every document of ``text`` (CommentedMap, CommentedSeq, scalar, or None for an empty one)
    and its layout."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    from kubectl_gitops.untrusted.yamldocs import LimitError, check

    try:  # the limits of every YAML read from a repository (size, documents, nesting, aliases)
        check(text)
    except LimitError as e:
        raise YamlError(f"{e.problem}; {e.hint}", e.line) from e
    y = _ruamel()
    layout = guess_layout(text)
    try:
        docs = list(y.load_all(text[len(layout.header):]))
    except RecursionError as e:  # nesting the check did not see (libyaml stopped at a syntax error first)
        raise YamlError("mappings and sequences nest too deep") from e
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 + layout.header.count("\n") if mark is not None else None
        # from None: a MarkedYAMLError quotes the input, which may be a decrypted file (secrets edit)
        raise YamlError(f"invalid YAML: {e.problem or e.context}", line) from None
    except YAMLError as e:
        raise YamlError(f"invalid YAML: {e}") from e
    return [None if _is_empty_document(d) else d for d in docs], layout


def dump_all(docs: list[Any], layout: Layout) -> str:
    """The documents, separated by ``---``; an empty document is just its separator."""
    y = _ruamel()
    y.indent(mapping=layout.mapping, sequence=layout.sequence, offset=layout.offset)
    parts = [layout.header]
    for i, doc in enumerate(docs):
        if i > 0 or layout.explicit_start:
            parts.append("---\n")
        if doc is not None:
            out = io.StringIO()
            y.dump(doc, out)
            parts.append(out.getvalue())
    return "".join(parts)


# --- values -----------------------------------------------------------------------------------

def leaf_value(obj: Any) -> Value | None:
    """The sops value of a YAML leaf as ruamel built it with our text resolver (None for null)."""
    from ruamel.yaml.comments import TaggedScalar
    from ruamel.yaml.scalarstring import PlainScalarString, ScalarString

    if obj is None:
        return None
    if type(obj) is str or isinstance(obj, PlainScalarString):
        return resolve_plain(str(obj))
    if isinstance(obj, ScalarString):  # quoted, literal or folded: always a string
        return Value("str", str(obj))
    if isinstance(obj, TaggedScalar):
        tag = str(obj.tag.value if hasattr(obj.tag, "value") else obj.tag)
        if tag.endswith(":timestamp") or tag == "!!timestamp":
            ts = parse_yaml_timestamp(str(obj.value))
            if ts is None:
                raise UnsupportedValue("invalid !!timestamp")
            return Value("time", ts)
        if tag.endswith(":binary") or tag == "!!binary":
            raise UnsupportedValue("!!binary values are not supported")
        return Value("str", str(obj.value))  # !!str and custom tags decode as strings in yaml.v3
    if type(obj).__name__ == "ScalarBoolean":
        return Value("bool", bool(obj))
    if hasattr(obj, "isoformat") and not isinstance(obj, str):
        ts = parse_yaml_timestamp(str(obj.isoformat()).replace("+00:00", "Z"))
        if ts is None:
            raise UnsupportedValue("unsupported timestamp")
        return Value("time", ts)
    return python_scalar_value(obj)


def _needs_quotes(text: str) -> bool:
    """Quote strings a YAML reader could type as something else (yaml.v3 or YAML 1.1 readers)."""
    if not _v3_plain_ok(text):
        return True
    import yaml  # PyYAML: the YAML 1.1 reader used elsewhere must see a string too

    return bool(yaml.resolver.Resolver().resolve(yaml.ScalarNode, text, (True, False)) != "tag:yaml.org,2002:str")


def yaml_leaf(value: Value) -> Any:
    """A ruamel object that writes ``value`` so it reads back with the same type and text."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString

    if value.kind == "str":
        text = str(value.data)
        if "\n" in text and text.strip() and not re.search(r"[ \t]\n|[^\S\n]$|^\s", text):
            return LiteralScalarString(text)
        return DoubleQuotedScalarString(text) if _needs_quotes(text) else plain(text)
    if value.kind == "bool":
        return plain("true" if value.data else "false")
    if value.kind == "int":
        return plain(str(int(value.data)))
    if value.kind == "float":
        return plain(_float_text(float(value.data)))
    if value.kind == "time":
        return plain(str(value.data))
    raise UnsupportedValue(f"cannot write a {value.kind} value")


def plain(text: str) -> Any:
    """A string written without quotes when possible (``ENC[...]`` values). A ScalarString, because
    ruamel gives a plain ``str`` assigned over a quoted value that value's quoting."""
    from ruamel.yaml.scalarstring import PlainScalarString

    return PlainScalarString(text)


def quoted(text: str) -> Any:
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    return DoubleQuotedScalarString(text)


def literal(text: str) -> Any:
    from ruamel.yaml.scalarstring import LiteralScalarString

    return LiteralScalarString(text)


def new_map(items: list[tuple[str, Any]]) -> Any:
    from ruamel.yaml.comments import CommentedMap

    m = CommentedMap()
    for k, v in items:
        m[k] = v
    return m


def new_seq(items: list[Any]) -> Any:
    from ruamel.yaml.comments import CommentedSeq

    s = CommentedSeq()
    s.extend(items)
    return s


def unshare(obj: Any, seen: set[int] | None = None) -> Any:
    """Copy collections reached twice through YAML aliases, so each path is encrypted on its own
    (sops expands aliases). Returns the possibly replaced object."""
    import copy

    if seen is None:
        seen = set()
    if not isinstance(obj, (dict, list)):
        return obj
    if id(obj) in seen:
        obj = copy.deepcopy(obj)
    seen.add(id(obj))
    if isinstance(obj, dict):
        for k in list(obj.keys()):
            obj[k] = unshare(obj[k], seen)
    else:
        for i, v in enumerate(obj):
            obj[i] = unshare(v, seen)
    return obj


# --- comments ---------------------------------------------------------------------------------

@dataclass
class CommentLine:
    """One ``#`` line of a ruamel comment token; ``text`` is what follows the ``#`` (sops' value)."""

    token: Any
    index: int  # line index inside the token's value
    line: int  # 0-based line in the file
    column: int
    text: str
    path: tuple[str, ...] = ()


def _tokens(obj: Any) -> Iterator[Any]:
    from ruamel.yaml.tokens import CommentToken

    def walk(x: Any) -> Iterator[Any]:
        if isinstance(x, CommentToken):
            yield x
        elif isinstance(x, (list, tuple)):
            for y in x:
                yield from walk(y)
        elif isinstance(x, dict):
            for y in x.values():
                yield from walk(y)

    ca = getattr(obj, "ca", None)
    if ca is not None:
        yield from walk(ca.comment)
        yield from walk(ca.items)
        yield from walk(getattr(ca, "end", None))
    comment = getattr(obj, "comment", None)  # literal/folded scalars carry their own
    if comment is not None and not callable(comment):
        yield from walk(comment)


def _lines_of(token: Any) -> list[tuple[int, int, int, str]]:
    """(index in value, file line, column, text after '#') for each comment line of a token."""
    mark = getattr(token, "start_mark", None)
    if mark is None:
        return []
    pieces = token.value.split("\n")
    out = []
    first = None
    for i, piece in enumerate(pieces):
        s = piece.lstrip(" \t")
        if not s.startswith("#"):
            continue
        if first is None:
            first = i
            column = mark.column
        else:
            column = len(piece) - len(s)
        out.append((i, mark.line + (i - first), column, s[1:]))
    return out


def _positions(coll: Any) -> list[tuple[int, int, Any, Any]]:
    """(line, column, key or None, child) of each entry of a collection, in order."""
    out: list[tuple[int, int, Any, Any]] = []
    lc = getattr(coll, "lc", None)
    if lc is None:
        return out
    if isinstance(coll, dict):
        for k, v in coll.items():
            try:
                line, col = lc.key(k)
            except (KeyError, TypeError):
                continue
            out.append((line, col, k, v))
    else:
        for i, v in enumerate(coll):
            try:
                line, col = lc.item(i)
            except (KeyError, TypeError, IndexError):
                continue
            out.append((line, col, None, v))
    return out


def _comment_path(root: Any, line: int, column: int) -> tuple[str, ...]:
    """The key path of the innermost collection that holds a comment at (line, column)."""
    path: list[str] = []
    node: Any = root
    while isinstance(node, (dict, list)):
        entries = _positions(node)
        before = [e for e in entries if e[0] < line or (e[0] == line and e[1] < column)]
        if not before:
            break
        eline, _, key, child = before[-1]
        child_lc = getattr(child, "lc", None)
        if not isinstance(child, (dict, list)) or child_lc is None:
            break
        if line <= eline or column < child_lc.col or not _positions(child):
            break
        if key is not None:
            path.append(str(key))
        node = child
    return tuple(path)


def comment_lines(root: Any) -> list[CommentLine]:
    """Every comment line of a document, with the path sops gives it, in file order."""
    found: dict[tuple[int, int], CommentLine] = {}

    def visit(obj: Any) -> None:
        for token in _tokens(obj):
            for index, line, column, text in _lines_of(token):
                key = (id(token), index)
                if key not in found:
                    found[key] = CommentLine(token, index, line, column, text,
                                             _comment_path(root, line, column))
        if isinstance(obj, dict):
            for v in obj.values():
                visit(v)
        elif isinstance(obj, list):
            for v in obj:
                visit(v)

    visit(root)
    return sorted(found.values(), key=lambda c: (c.line, c.column))


def set_comment_text(comment: CommentLine, text: str) -> None:
    """Replace what follows the ``#`` on one comment line, keeping indentation and other lines."""
    pieces = comment.token.value.split("\n")
    piece = pieces[comment.index]
    lead = piece[: len(piece) - len(piece.lstrip(" \t"))]
    pieces[comment.index] = f"{lead}#{text}"
    comment.token.value = "\n".join(pieces)
    comment.text = text


def _written_width(value: Any) -> int:
    import json

    from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

    if isinstance(value, DoubleQuotedScalarString):
        return len(json.dumps(str(value), ensure_ascii=False))
    if isinstance(value, SingleQuotedScalarString):
        return len(str(value).replace("'", "''")) + 2
    return len(str(value))


def realign_eol_comment(coll: Any, key: Any, old: Any) -> None:
    """After ``coll[key]`` replaced ``old``, move its end-of-line comment so the gap between value and
    comment stays what it was (ruamel would keep the old column: far right after decrypting, or
    overlapping after encrypting)."""
    import copy

    ca = getattr(coll, "ca", None)
    lc = getattr(coll, "lc", None)
    if ca is None or lc is None or key not in ca.items:
        return
    entry = ca.items[key]
    token = entry[2] if isinstance(coll, dict) and len(entry) > 2 else entry[0]
    mark = getattr(token, "start_mark", None)
    if token is None or mark is None or token.value.startswith("\n"):
        return
    try:
        _, col = lc.value(key) if isinstance(coll, dict) else lc.item(key)
    except (KeyError, TypeError, IndexError):
        return
    gap = max(1, mark.column - (col + _written_width(old)))
    new = copy.copy(mark)
    new.column = col + _written_width(coll[key]) + gap
    token.start_mark = new


def add_comment_before(seq: Any, index: int, text: str) -> None:
    """Put a ``#text`` comment line before item ``index`` (after the last item when past the end)."""
    if not hasattr(seq, "yaml_set_comment_before_after_key") or not seq:
        return
    col = getattr(getattr(seq, "lc", None), "col", 0) or 0
    if index < len(seq):
        seq.yaml_set_comment_before_after_key(index, before=text.lstrip(), indent=col)
    else:
        seq.yaml_set_comment_before_after_key(len(seq) - 1, after=text.lstrip(), indent=col)


def after_replace(coll: Any, key: Any, old: Any) -> None:
    """Layout fixes after a value was replaced: encrypted values go in block style (one per line,
    like sops writes them), and the end-of-line comment follows the new value."""
    fa = getattr(coll, "fa", None)
    if fa is not None and fa.flow_style() and str(coll[key]).startswith("ENC["):
        fa.set_block_style()
    realign_eol_comment(coll, key, old)
