"""Parse text read or rendered from a repository into manifests and ``file:line: what; what to do`` problems."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from kubectl_gitops.model import Manifest, Obj, Origin
from kubectl_gitops.untrusted.yamldocs import DuplicateKeyError, documents
from kubectl_gitops.untrusted.yamllimits import LimitError, load_json


def _items_lines(node: yaml.Node) -> list[int]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "items" and isinstance(value, yaml.SequenceNode):
                return [item.start_mark.line + 1 for item in value.value]
    return []


def _type_name(data: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(data), type(data).__name__)


@dataclass
class Out:
    manifests: list[Manifest]
    problems: list[str]


def _add_document(out: Out, data: Any, origin: Origin, node: yaml.Node | None) -> None:
    """One parsed document: an object, or a ``*List`` whose items are flattened."""
    where = f"{origin.path}:{origin.line}" if origin.line else str(origin)
    if not isinstance(data, dict):
        out.problems.append(f"{where}: expected a Kubernetes object (a mapping with apiVersion, kind, metadata), "
                            f"found {_type_name(data)}; fix the document or move the file out of the manifests folder")
        return
    kind = data.get("kind")
    items = data.get("items")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
        lines = _items_lines(node) if node is not None else []
        for i, item in enumerate(items):
            line = lines[i] if i < len(lines) else origin.line
            item_origin = Origin(origin.path, line, origin.renderer, origin.detail)
            if isinstance(item, dict):
                out.manifests.append(Manifest(item, item_origin))
            else:
                out.problems.append(f"{origin.path}:{line}: item {i} of {kind} is {_type_name(item)}, not an object; "
                                    "fix the list")
        return
    out.manifests.append(Manifest(data, origin))


def add_object(out: Out, data: Any, origin: Origin) -> None:
    """One object from a renderer that gives data, not text (Jsonnet): an object, or a ``*List`` flattened."""
    _add_document(out, data, origin, None)


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.splitlines()
    return lines[line][column:column + 1] if 0 <= line < len(lines) else ""


def parse_yaml(out: Out, text: str, origin: Origin, *,
                origin_for: Callable[[int, Obj], Origin] | None = None) -> None:
    try:
        for data, line, node in documents(text):
            if origin_for is not None and isinstance(data, dict):
                o = origin_for(line, data)
            elif origin.renderer == "file":
                o = Origin(origin.path, line, "file", origin.detail)
            else:
                o = origin
            _add_document(out, data, o, node)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        err_line = mark.line + 1 if mark is not None else None
        what = e.problem or str(e)
        if e.context and not isinstance(e, DuplicateKeyError):
            what = f"{what} ({e.context})"
        if mark is not None and _char_at(text, mark.line, mark.column) == "\t":  # libyaml does not name it
            what = f"a tab character at column {mark.column + 1}; YAML indents with spaces only"
        where = f"{origin.path}:{err_line}" if err_line and origin.renderer == "file" else str(origin)
        if isinstance(e, LimitError):  # a size, count, depth or alias limit, not a syntax error
            out.problems.append(f"{where}: {e.problem}; {e.hint} (the rest of this file was not read)")
            return
        out.problems.append(f"{where}: invalid YAML: {what}; fix the syntax (the rest of this file was not read)")
    except yaml.YAMLError as e:  # e.g. an unknown tag without a mark
        out.problems.append(f"{origin}: invalid YAML: {e}; fix the syntax")


def parse_json(out: Out, text: str, origin: Origin) -> None:
    try:
        data = load_json(text)  # json.loads within the size and depth limits of every repository file
    except LimitError as e:
        out.problems.append(f"{origin.path}:{e.line}: {e.problem}; {e.hint}")
        return
    except json.JSONDecodeError as e:
        out.problems.append(f"{origin.path}:{e.lineno}: invalid JSON: {e.msg} (column {e.colno}); fix the syntax")
        return
    if isinstance(data, dict) and "apiVersion" not in data and "kind" not in data:
        return  # renovate.json, package.json, …: not a manifest
    _add_document(out, data, Origin(origin.path, 1, "file"), None)
