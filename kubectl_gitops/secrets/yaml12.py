"""YAML for sops files: round-trip (comments, key order, quoting, indentation) with yaml.v3 types.

ruamel.yaml parses and writes the text and keeps comments and layout; we switch its implicit
typing off so that every plain scalar arrives as the text that was written (a ``str`` of exactly
type ``str``), and type it ourselves with yaml.v3's rules (``gotypes.resolve_plain``). Unchanged
values are written back byte for byte; values we replace (``ENC[...]`` or decrypted plaintext) are
written plain when that reads back as the same value, quoted otherwise.

Comments (which collection holds each one, rewriting them, layout after a replace) are in ``yamlcomments``.
"""

from __future__ import annotations

import io
import re
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

    from kubectl_gitops.untrusted.yamllimits import LimitError, check

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
