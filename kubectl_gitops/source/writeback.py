"""Write an image reference back into the repository, where a person would: ``image set`` and ``promote``.

Three places, chosen by the caller (``ops.image``):

- **kustomization** (a folder with ``kustomization.yaml``): its ``images:`` entry for NAME — ``newName``,
  ``newTag``, ``digest`` — added or updated like ``kustomize edit set image``, with one difference: a new tag
  or digest alone keeps the entry's ``newName`` (kustomize drops it, a known surprise); a new tag without a
  digest removes the digest (and the other way round), so the reference is what was asked;
- **Helm values** (``--helm-value KEY[=PART]``): the scalar at the dotted KEY of a values file gets PART of the
  reference — ``tag`` (the default), ``digest``, ``name`` or ``ref`` (the whole reference); the key must exist;
- **manifests** (plain YAML files under the folder): every image reference the ``--image`` matcher
  (source.images) matches, in containers, initContainers and ephemeralContainers.

Every edit is a text splice (source.yamledit): the file changes only inside the edited value or the added
lines. Setting what is already there changes nothing (``Edit.changed`` False), so write-back is idempotent.
Only files inside the repository folder are read or written; links leaving it are refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kubectl_gitops.source import yamledit
from kubectl_gitops.source.images import CONTAINER_LISTS, ImageOverride, split_reference
from kubectl_gitops.source.unitguard import KUSTOMIZATION_FILES
from kubectl_gitops.source.yamledit import EditError
from kubectl_gitops.untrusted.pathguard import is_inside

PARTS = ("tag", "digest", "name", "ref")


@dataclass
class Edit:
    """One file's new text and what was set in it: ``changes`` holds ``(what, before, after)`` per value set
    (``what``: the image name, or ``KEY in FILE`` for a Helm value; ``before`` empty for a new entry)."""

    path: Path
    old: str
    new: str
    changes: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def then(self, other: Edit) -> Edit:
        """This edit followed by ``other`` (made on this one's new text) of the same file."""
        return Edit(self.path, self.old, other.new, self.changes + other.changes)


def _read(root: Path, path: Path) -> str:
    if not is_inside(root, path):
        raise EditError(f"{path}: symbolic link leaves the repository; not edited")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise EditError(f"{path}: cannot read: {e}") from e


def entry_text(name: str, new_name: str, tag: str, digest: str) -> str:
    """A kustomization ``images:`` entry as ``--image`` text (``app=reg/app:1.2``)."""
    return str(ImageOverride(name, new_name, tag, digest))


def kustomization_file(folder: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def read_kustomization_images(root: Path, folder: Path) -> dict[str, ImageOverride]:
    """The ``images:`` entries of the folder's kustomization, by name."""
    path = kustomization_file(folder)
    if path is None:
        return {}
    docs = yamledit.compose(_read(root, path), str(path))
    return _entries(yamledit.get(docs[0], "images") if docs else None)


def _entries(seq: yaml.Node | None) -> dict[str, ImageOverride]:
    out = {}
    for item in seq.value if isinstance(seq, yaml.SequenceNode) else ():
        values = {k.value: v.value for k, v in yamledit.pairs(item) if isinstance(v, yaml.ScalarNode)}
        if values.get("name"):
            out[values["name"]] = ImageOverride(values["name"], values.get("newName", ""), values.get("newTag", ""),
                                                values.get("digest", ""))
    return out


def set_kustomization_image(root: Path, folder: Path, o: ImageOverride, *, text: str | None = None,
                            exact: bool = False) -> Edit:
    """The folder's kustomization with NAME's ``images:`` entry set (``text``: the file's text, if already
    edited; ``exact``: the entry becomes ``o`` field for field, as ``promote`` copies it)."""
    path = kustomization_file(folder)
    if path is None:
        raise EditError(f"{folder}: no kustomization.yaml here")
    text = _read(root, path) if text is None else text
    where = str(path.relative_to(root))
    docs = yamledit.compose(text, where)
    if len(docs) != 1 or not isinstance(docs[0], yaml.MappingNode):
        raise EditError(f"{where}: a kustomization is one YAML mapping; fix the file")
    seq = yamledit.get(docs[0], "images")
    item = None
    if isinstance(seq, yaml.SequenceNode):
        for candidate in seq.value:
            if isinstance(yamledit.get(candidate, "name"), yaml.ScalarNode) and \
                    yamledit.get(candidate, "name").value == o.name:  # type: ignore[union-attr]
                item = candidate
    current = _entries(seq).get(o.name)
    new_name = o.new_name or (current.new_name if current and not exact else "")
    tag, digest = (o.new_tag, o.digest) if (o.new_tag or o.digest or exact) else (
        (current.new_tag, current.digest) if current else ("", ""))
    wanted = {"newName": new_name, "newTag": tag, "digest": digest}
    changes = [(o.name, entry_text(o.name, current.new_name, current.new_tag, current.digest) if current else "",
                entry_text(o.name, new_name, tag, digest))]
    if item is None:
        fields = [("name", o.name), *((k, v) for k, v in wanted.items() if v)]
        if seq is None or (isinstance(seq, yaml.ScalarNode) and seq.value in ("", "~", "null")):
            if seq is not None:
                raise EditError(f"{where}:{seq.start_mark.line + 1}: `images:` is empty; write `images: []` or "
                                "remove it, then run again")
            splice = yamledit.append_document_key(text, "images", [fields])
        else:
            if not isinstance(seq, yaml.SequenceNode):
                raise EditError(f"{where}: `images` is not a list; fix the kustomization")
            splice = yamledit.append_item(text, seq, fields, where) if seq.value else yamledit.Splice(
                seq.start_mark.index, seq.end_mark.index, "\n" + "".join(
                    f"{'- ' if i == 0 else '  '}{k}: {yamledit.scalar_text(v, None)}\n"
                    for i, (k, v) in enumerate(fields)).rstrip("\n"))
        return Edit(path, text, yamledit.apply(text, [splice]), changes)
    splices: list[yamledit.Splice] = []
    for key, value in wanted.items():
        node = yamledit.get(item, key)
        if value and node is not None:
            if not (isinstance(node, yaml.ScalarNode) and node.value == value):
                splices.append(yamledit.replace_scalar(node, value, where))
        elif value:
            splices.append(yamledit.insert_pair(text, item, key, value, where))
        elif node is not None:
            removed = yamledit.remove_pair(text, item, key, where)
            if removed is not None:
                splices.append(removed)
    return Edit(path, text, yamledit.apply(text, splices), changes)


def part_of(ref: str, part: str) -> str:
    name, tag, digest = split_reference(ref)
    return {"tag": tag, "digest": digest, "name": name, "ref": ref}[part]


def set_helm_value(root: Path, values_file: Path, key: str, value: str, *, text: str | None = None) -> Edit:
    """The values file with the scalar at dotted ``key`` set to ``value``."""
    text = _read(root, values_file) if text is None else text
    where = str(values_file.relative_to(root))
    docs = yamledit.compose(text, where)
    node = yamledit.get_path(docs[0] if docs else None, key.split("."))
    if node is None:
        raise EditError(f"{where}: no value {key!r}; give the dotted key of an existing value (e.g. image.tag)")
    if not isinstance(node, yaml.ScalarNode):
        raise EditError(f"{where}:{node.start_mark.line + 1}: {key} is not a single value")
    changes = [(f"{key} in {where}", node.value, value)]
    if node.value == value:
        return Edit(values_file, text, text, changes)
    return Edit(values_file, text, yamledit.apply(text, [yamledit.replace_scalar(node, value, where)]), changes)


def _container_images(node: yaml.Node) -> list[yaml.ScalarNode]:
    out: list[yaml.ScalarNode] = []
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            out += _container_images(v)
            if isinstance(k, yaml.ScalarNode) and k.value in CONTAINER_LISTS and isinstance(v, yaml.SequenceNode):
                for c in v.value:
                    img = yamledit.get(c, "image")
                    if isinstance(img, yaml.ScalarNode):
                        out.append(img)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            out += _container_images(item)
    return out


def manifest_files(root: Path, folder: Path) -> list[Path]:
    """Plain YAML files under ``folder`` (hidden entries, kustomization and Helm files left out), sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if name.endswith((".yaml", ".yml")) and not name.startswith(".") and name not in (
                    *KUSTOMIZATION_FILES, "Chart.yaml", "values.yaml") and is_inside(root, p):
                out.append(p)
    return out


def manifest_images(root: Path, folder: Path) -> list[tuple[Path, str]]:
    """(file, reference) of every container image in the plain files under ``folder``."""
    out = []
    for path in manifest_files(root, folder):
        for doc in yamledit.compose(_read(root, path), str(path.relative_to(root))):
            out += [(path, n.value) for n in _container_images(doc)]
    return out


def set_manifest_images(root: Path, folder: Path, o: ImageOverride, *,
                        texts: dict[Path, str] | None = None) -> list[Edit]:
    """An edit of each plain file under ``folder`` holding a reference ``o`` matches (``texts``: files already
    edited)."""
    edits = []
    for path in manifest_files(root, folder):
        text = (texts or {}).get(path)
        text = _read(root, path) if text is None else text
        where = str(path.relative_to(root))
        splices, changes = [], []
        for doc in yamledit.compose(text, where):
            for node in _container_images(doc):
                if o.matches(node.value):
                    new = o.apply(node.value)
                    changes.append((o.name, node.value, new))
                    if new != node.value:
                        splices.append(yamledit.replace_scalar(node, new, where))
        if changes:
            edits.append(Edit(path, text, yamledit.apply(text, splices), changes))
    return edits


def write(edits: list[Edit]) -> None:
    """Write the changed files (each through a temporary file renamed over it: never half-written)."""
    for e in edits:
        if not e.changed:
            continue
        tmp = e.path.with_name(f".{e.path.name}.kubectl-gitops.tmp")
        tmp.write_text(e.new, encoding="utf-8")
        os.chmod(tmp, e.path.stat().st_mode & 0o7777)
        os.replace(tmp, e.path)
