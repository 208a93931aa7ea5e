"""Comments of sops YAML loaded by ``yaml12``: who holds each ``#`` line, rewriting it, layout after a replace.

sops encrypts comments too, with the path of the mapping (or sequence) that holds them as additional data.
ruamel hangs a comment on a neighbouring node, so ``comment_lines`` works out the holder from positions: the
innermost collection whose block contains the comment's line at an indentation no smaller than the
collection's own (see ``_comment_path``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


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
