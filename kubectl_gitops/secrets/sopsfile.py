"""The sops file format: YAML/JSON text parsed into documents and ``sops:`` metadata, and rendered back."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

from kubectl_gitops.errors import SecretsError
from kubectl_gitops.secrets import yaml12 as y12
from kubectl_gitops.secrets.sopsmeta import SOPS_KEY, Metadata, parse_metadata


@dataclass
class SopsFile:
    """A parsed YAML/JSON file: its documents (without ``sops`` entries) and metadata if encrypted."""

    fmt: str  # "yaml" or "json"
    docs: list[Any]
    layout: y12.Layout | None = None
    json_indent: str | int | None = None
    metadata: Metadata | None = None
    name: str = "<input>"

    @property
    def encrypted(self) -> bool:
        return self.metadata is not None


def format_for(path: str) -> str:
    """sops picks the store by extension: ``.json`` is JSON, everything else we read as YAML."""
    return "json" if path.lower().endswith(".json") else "yaml"


def looks_encrypted(text: str) -> bool:
    """A cheap test before parsing: sops metadata needs these words."""
    return "sops" in text and "mac" in text and "lastmodified" in text


def _json_indent(text: str) -> str | int:
    m = re.search(r"\n([ \t]+)\S", text)
    if not m:
        return "\t"
    indent = m.group(1)
    return len(indent) if set(indent) == {" "} else indent


def parse(text: str, fmt: str, name: str = "<input>") -> SopsFile:
    """Parse ``text``; if it carries sops metadata, read it (from the first document, like sops)."""
    if fmt == "json":
        from kubectl_gitops.untrusted.yamllimits import LimitError, load_json

        try:
            doc = load_json(text)  # json.loads within the size and depth limits of every repository file
        except LimitError as e:
            raise SecretsError(f"{name}:{e.line}: {e.problem}", hint=e.hint) from e
        except json.JSONDecodeError as e:
            raise SecretsError(f"{name}:{e.lineno}: invalid JSON: {e.msg}") from e
        if not isinstance(doc, dict):
            raise SecretsError(f"{name}: only JSON files with a top-level object are supported (like sops)")
        docs, layout, indent = [doc], None, _json_indent(text)
    else:
        try:
            docs, layout = y12.load_all(text)
        except y12.YamlError as e:
            raise SecretsError(f"{name}{':' + str(e.line) if e.line else ''}: {e}") from e
        indent = None
    meta = None
    if docs and isinstance(docs[0], dict) and SOPS_KEY in docs[0]:
        meta = parse_metadata(docs[0][SOPS_KEY], name)
        for doc in docs:
            if isinstance(doc, dict):
                doc.pop(SOPS_KEY, None)
    for doc in docs:
        if doc is not None and not isinstance(doc, dict):
            raise SecretsError(f"{name}: YAML documents that are not mappings are not supported (like sops)")
    if layout is not None:
        docs = [y12.unshare(d) for d in docs]
    return SopsFile(fmt=fmt, docs=docs, layout=layout, json_indent=indent, metadata=meta, name=name)


def render(f: SopsFile) -> str:
    """The text of ``f``: with a ``sops`` entry in every document when encrypted."""
    docs = f.docs
    if f.metadata is not None:
        block = f.metadata.to_plain()
        out: list[Any] = []
        for d in docs:
            if d is None:
                out.append(d)
                continue
            d = copy.copy(d) if f.fmt == "json" else d
            d[SOPS_KEY] = block if f.fmt == "json" else _yaml_block(block)
            out.append(d)
        docs = out
    if f.fmt == "json":
        return json.dumps(docs[0], indent=f.json_indent if f.json_indent is not None else "\t",
                          ensure_ascii=False) + "\n"
    text = y12.dump_all(docs, f.layout or y12.Layout())
    if f.metadata is not None:  # the block must not stay attached to the documents in memory
        for d in f.docs:
            if isinstance(d, dict):
                d.pop(SOPS_KEY, None)
    return text


def _yaml_block(block: dict[str, Any]) -> Any:
    items: list[tuple[str, Any]] = []
    for k, v in block.items():
        if k == "age":
            v = y12.new_seq([y12.new_map([("enc", y12.literal(e["enc"])), ("recipient", e["recipient"])])
                             for e in v])
        elif k == "lastmodified":
            v = y12.quoted(v)
        elif isinstance(v, bool):
            v = "true" if v else "false"
        items.append((k, v))
    return y12.new_map(items)
