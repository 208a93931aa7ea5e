"""Editing YAML files the way a person would: one value replaced, one line added, every other byte kept.

Write-back (``image set``, ``promote``) must leave a reviewer a one-line diff. A YAML round trip — even
ruamel's, which keeps comments — re-indents sequences, re-wraps long lines and re-quotes strings somewhere in
a real file. So the file is *read* to find positions (PyYAML's composer gives each node its exact start and
end offsets in the text) and *edited* as text: a scalar is replaced between its offsets, keeping its quoting
style; a new ``key: value`` line is inserted after a mapping's last entry at that mapping's indentation; a new
sequence item after the last item at its indentation. Nothing outside those spans changes, byte for byte
(tests/unit/test_writeback.py checks it on files full of comments, odd indentation and flow-style neighbours).

Flow-style collections (``{a: 1}``, ``[x]``) are not edited: ``EditError`` says to edit them by hand.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import yaml

from kubectl_gitops.errors import InvalidInputError


class EditError(InvalidInputError):
    """The file cannot be edited safely (flow style, an unreadable document): nothing was written."""


@dataclass(frozen=True)
class Splice:
    start: int
    end: int
    text: str


def compose(text: str, where: str) -> list[yaml.Node]:
    """The node trees of every document of ``text`` (no objects constructed: aliases cost nothing)."""
    try:
        return [n for n in yaml.compose_all(text, Loader=yaml.SafeLoader) if n is not None]
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise EditError(f"{where}{line}: not valid YAML ({getattr(e, 'problem', e)}); fix the file first") from e


def get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    """The value node of ``key`` in a mapping node (None if absent or not a mapping)."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def get_path(node: yaml.Node | None, path: list[str]) -> yaml.Node | None:
    for key in path:
        node = get(node, key)
    return node


def pairs(node: yaml.Node) -> Iterator[tuple[yaml.Node, yaml.Node]]:
    if isinstance(node, yaml.MappingNode):
        yield from node.value


def scalar_text(value: str, style: str | None) -> str:
    """``value`` written as a YAML string in ``style`` (the replaced node's), quoted when plain would change its
    type (``1.27`` would be a number) or its meaning."""
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    needs_quotes = True
    with contextlib.suppress(yaml.YAMLError):
        needs_quotes = yaml.safe_load(value) != value or "#" in value or ": " in value or value != value.strip()
    if style == '"' or needs_quotes:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def replace_scalar(node: yaml.Node, value: str, where: str) -> Splice:
    if not isinstance(node, yaml.ScalarNode) or node.style in ("|", ">"):
        raise EditError(f"{where}:{node.start_mark.line + 1}: not a one-line string value; edit it by hand")
    return Splice(node.start_mark.index, node.end_mark.index, scalar_text(value, node.style))


def _block(node: yaml.Node, where: str) -> None:
    if getattr(node, "flow_style", False):
        raise EditError(f"{where}:{node.start_mark.line + 1}: a flow-style collection ({{...}} or [...]) cannot be "
                        "edited without rewriting it; write it in block style or edit it by hand")


def _line_end(text: str, index: int) -> int:
    """The offset just after the newline ending the line that holds ``index - 1`` (the node's last character)."""
    nl = text.find("\n", max(index - 1, 0))
    return len(text) if nl < 0 else nl + 1


def _last_end(node: yaml.Node) -> int:
    """Where the node's last scalar ends (a block collection's own end mark lies at the next token, after any
    comments and blank lines that follow it)."""
    if isinstance(node, yaml.MappingNode) and node.value and not node.flow_style:
        return _last_end(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and node.value and not node.flow_style:
        return _last_end(node.value[-1])
    return int(node.end_mark.index)


def insert_pair(text: str, mapping: yaml.Node, key: str, value: str, where: str) -> Splice:
    """``key: value`` as a new last entry of a block ``mapping``, at its indentation."""
    _block(mapping, where)
    if not isinstance(mapping, yaml.MappingNode) or not mapping.value:
        raise EditError(f"{where}: expected a mapping to add {key!r} to; edit it by hand")
    indent = mapping.value[0][0].start_mark.column
    at = _line_end(text, _last_end(mapping))
    prefix = "" if at == 0 or text[at - 1] == "\n" else "\n"
    return Splice(at, at, f"{prefix}{' ' * indent}{key}: {scalar_text(value, None)}\n")


def remove_pair(text: str, mapping: yaml.Node, key: str, where: str) -> Splice | None:
    """Delete the ``key: value`` line of a block mapping (a one-line pair only); None when absent."""
    for k, v in pairs(mapping):
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            if k.start_mark.line != v.end_mark.line:
                raise EditError(f"{where}:{k.start_mark.line + 1}: {key} spans several lines; edit it by hand")
            start = text.rfind("\n", 0, k.start_mark.index) + 1
            if text[start:k.start_mark.index].strip(" "):  # `- key: v`: the first pair of an item; blank it instead
                raise EditError(f"{where}:{k.start_mark.line + 1}: cannot remove {key} here; edit it by hand")
            return Splice(start, _line_end(text, _last_end(v)), "")
    return None


def append_item(text: str, seq: yaml.Node, fields: list[tuple[str, str]], where: str) -> Splice:
    """A new mapping ``fields`` as the last item of a block sequence, written like its other items."""
    _block(seq, where)
    if not isinstance(seq, yaml.SequenceNode) or not seq.value:
        raise EditError(f"{where}: expected a list to add to; edit it by hand")
    first = seq.value[0]
    dash = text.rfind("-", 0, first.start_mark.index)
    line_start = text.rfind("\n", 0, dash) + 1
    dash_col = dash - line_start
    key_col = first.start_mark.column if isinstance(first, yaml.MappingNode) else dash_col + 2
    at = _line_end(text, _last_end(seq))
    prefix = "" if at == 0 or text[at - 1] == "\n" else "\n"
    lines = []
    for i, (k, v) in enumerate(fields):
        lead = " " * dash_col + "-" + " " * (key_col - dash_col - 1) if i == 0 else " " * key_col
        lines.append(f"{lead}{k}: {scalar_text(v, None)}\n")
    return Splice(at, at, prefix + "".join(lines))


def append_document_key(text: str, key: str, items: list[list[tuple[str, str]]]) -> Splice:
    """``key:`` with a list of mappings, at the end of a single-document file."""
    body = "".join(
        "".join(f"{'- ' if i == 0 else '  '}{k}: {scalar_text(v, None)}\n" for i, (k, v) in enumerate(item))
        for item in items)
    prefix = "" if not text or text.endswith("\n") else "\n"
    return Splice(len(text), len(text), f"{prefix}{key}:\n{body}")


def apply(text: str, splices: list[Splice]) -> str:
    """``text`` with the splices made (they must not overlap)."""
    out = text
    for s in sorted(splices, key=lambda s: (s.start, s.end), reverse=True):
        out = out[:s.start] + s.text + out[s.end:]
    return out
