"""Which fields of a desired object came from a secret: the provenance that diff masking is based on.

A value is masked in a diff because of *where it came from*, not because its text equals a secret: anyone
can sops-encrypt a string to a repository's public keys, so masking by text would let a pull request hide
``image: evil.example/miner:1.0`` from its reviewer (see ``kubectl_gitops.redact``).

Two producers record field paths (tuples of mapping keys and list indices from the object's root):

* sops files: ``decrypt_if_encrypted`` reports, per file, the paths of the leaves that were encrypted
  (``report_file``), to every ``recording()`` in progress; ``mark`` then sets ``Manifest.secret_fields`` on
  the manifests rendered from that file (a ``kind: *List`` item's paths are its paths under ``items[i]``).
* placeholders: the resolver records the path of every value it substituted (``secrets.placeholders``).

Identity fields (``IDENTITY``: apiVersion, kind, metadata name/namespace/generateName) are never secret
fields: the object's identity is printed in every message, summary row and file name. Placeholders there
are refused; sops files that encrypt them (no ``encrypted_regex``) are shown, and their values are not
registered for redaction.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kubectl_gitops.model import Manifest

FieldPath = tuple[Any, ...]  # str keys and int list indices from the object's root

IDENTITY: frozenset[FieldPath] = frozenset({
    ("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace"), ("metadata", "generateName"),
})


@dataclass
class Recorder:
    """The encrypted leaf paths of every sops file decrypted while recording, by the path the render used."""

    files: dict[str, set[FieldPath]] = field(default_factory=dict)


_lock = threading.Lock()
_active: list[Recorder] = []


@contextmanager
def recording() -> Iterator[Recorder]:
    """Record what ``report_file`` is told while the block runs (in any thread: render may use a pool)."""
    rec = Recorder()
    with _lock:
        _active.append(rec)
    try:
        yield rec
    finally:
        with _lock:
            _active.remove(rec)


def report_file(path: str, paths: Iterable[FieldPath]) -> None:
    """``path`` (as the render names the file) held encrypted values at ``paths`` (one set for all its docs)."""
    found = {p for p in paths if p and p not in IDENTITY}
    for p in list(found):
        if len(p) > 2 and p[0] == "items" and isinstance(p[1], int):
            found.add(p[2:])  # the same field of a manifest flattened out of a kind: *List document
    with _lock:
        for rec in _active:
            rec.files.setdefault(path, set()).update(found)


def mark(manifests: list[Manifest], recorder: Recorder) -> None:
    """Set ``secret_fields`` of every manifest rendered from a file the recorder saw decrypted."""
    if not recorder.files:
        return
    for m in manifests:
        paths = recorder.files.get(m.origin.path) if m.origin.renderer == "file" else None
        if paths:
            here = frozenset(p for p in paths if _exists(m.obj, p) and p not in IDENTITY)
            if here:
                m.secret_fields = m.secret_fields | here


def _exists(obj: Any, path: FieldPath) -> bool:
    cur = obj
    for seg in path:
        if isinstance(seg, int):
            if not isinstance(cur, list) or not 0 <= seg < len(cur):
                return False
        elif not isinstance(cur, dict) or seg not in cur:
            return False
        cur = cur[seg]
    return True


def encrypted_leaves(node: Any, prefix: FieldPath = ()) -> Iterator[FieldPath]:
    """Paths of the sops-encrypted leaves (``ENC[AES256_GCM,...]`` strings) of one parsed document."""
    if isinstance(node, dict):
        for k, v in node.items():
            if prefix == () and k == "sops":
                continue
            yield from encrypted_leaves(v, (*prefix, str(k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from encrypted_leaves(v, (*prefix, i))
    elif isinstance(node, str) and node.startswith("ENC[AES256_GCM,"):
        yield prefix


def value_at(node: Any, path: FieldPath) -> Any:
    cur = node
    for seg in path:
        try:
            cur = cur[seg]
        except (KeyError, IndexError, TypeError):
            return None
    return cur
