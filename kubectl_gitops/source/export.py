"""Write one commit's tree into a private folder: blobs read from the object database (``git cat-file --batch``),
checked first.

What an export holds: the subtree of the path, plus the files (not folders) of every folder above it (``.sops.yaml``
and repository config files live there). When the subtree holds a kustomization or a Helm chart, the whole tree is
exported, because those may reference ``../base``; so is a subtree holding a ``.jsonnet`` file (its imports and
library folders may be anywhere in the repository). Submodules are not exported.

A commit is untrusted input (docs/security.md). Before anything is written, every entry of the commit's
tree (all of it, not only the exported folder: git's own commands never make such an entry, so the commit
is crafted) is refused if a component is empty, only dots (``.``, ``..``, ``...``), ``.git`` in any case or
in a spelling Windows (``.git.``, ``.git ``, ``git~1``, ``.git::$DATA``) or macOS (``.git`` with an
invisible U+200C inside) opens as ``.git``, or holds a backslash; absolute paths and duplicate names too.
The checks mirror git's own ``verify_path``; they are written here because exports read blobs straight from
the object database (never the user's index or work tree) and git has no plumbing that checks a tree's
names without writing them. Files are then created exclusively (``O_EXCL | O_NOFOLLOW``) in folders
verified to be inside the export, symbolic links last; a link whose real path (every link of a chain
followed) leaves the export refuses the whole export (exit 3, naming the link). Links that stay inside
keep working.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kubectl_gitops.errors import SourceError
from kubectl_gitops.untrusted import pathguard

if TYPE_CHECKING:
    from kubectl_gitops.source.gitcli import BlobReader

RENDER_UNIT_FILES = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization", "Chart.yaml"})


@dataclass(frozen=True)
class _Entry:
    mode: str
    kind: str
    sha: str
    path: str


CRAFTED_HINT = ("this commit was crafted (or is corrupt) to write outside the export folder; do not deploy it, "
                 "and check where it came from (`git fsck` names the bad trees)")


def _tree_entries(listing: str) -> list[_Entry]:
    """The records of ``git ls-tree -r -z --full-tree``, paths as git stores them (bytes that are not UTF-8 kept as
    surrogate escapes, so they round-trip to the file system unchanged)."""
    entries = []
    for record in listing.split("\0"):
        if not record:
            continue
        info, _, path = record.partition("\t")
        mode, kind, obj = info.split(" ")
        entries.append(_Entry(mode, kind, obj, path))
    return entries


_HFS_IGNORED = dict.fromkeys([0x200C, 0x200D, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x206A, 0x2070),
                              0xFEFF])
# NTFS (git's is_ntfs_dotgit): trailing dots and spaces are dropped, "git~1" is the short name of ".git",
# and ":name" opens a data stream of ".git".
_NTFS_DOTGIT = re.compile(r"(?:\.git|git~1)[. ]*(?::.*)?", re.IGNORECASE | re.DOTALL)
_ONLY_DOTS = re.compile(r"[. ]+")  # ".", "..", and what Windows reads as them ("...", ".. ")


def _bad_component(name: str) -> str | None:
    """Why git refuses to check out a path component like this one, or None when it is fine."""
    if name == "":
        return "an empty folder name"
    if _ONLY_DOTS.fullmatch(name):
        return f"a {name.strip()!r} component"
    if "\\" in name:
        return "a backslash (a folder separator on Windows)"
    if "\0" in name:
        return "a NUL byte"
    if _NTFS_DOTGIT.fullmatch(name) or name.translate(_HFS_IGNORED).lower() == ".git":
        return "a .git folder (or a name Windows or macOS open as .git)"
    return None


def _quote(path: str) -> str:
    """A path for a one-line message: quoted, control and invisible characters escaped (``repr`` does both)."""
    return repr(path)


def _check_tree(entries: list[_Entry], label: str) -> None:
    """Refuse a commit whose tree holds a path git itself would never check out, before anything is written.

    Every entry of the commit is checked, not only those of the exported folder: such an entry is never an
    accident (git's own commands cannot make one), so the whole commit is treated as crafted."""
    hint = CRAFTED_HINT
    seen: set[str] = set()
    for e in entries:
        reason = None
        if e.path.startswith("/"):
            reason = "an absolute path"
        else:
            reason = next((r for c in e.path.split("/") if (r := _bad_component(c))), None)
        if reason is None and e.path in seen:
            reason = "a second entry of the same name"
        if reason is not None:
            raise SourceError(f"{label}: tree entry {_quote(e.path)} is refused: it has {reason}; nothing was "
                              f"written", hint=hint)
        seen.add(e.path)
    for e in entries:  # a file (or link) and a folder of the same name: "x" and "x/y"
        parts = e.path.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent in seen:
                raise SourceError(f"{label}: tree entry {_quote(e.path)} is refused: {_quote(parent)} is both a "
                                  f"file and a folder; nothing was written", hint=hint)


def _under(path: str, rel: str) -> bool:
    return rel == "." or path == rel or path.startswith(rel + "/")


def _select(entries: list[_Entry], rel: str) -> list[_Entry]:
    """The path's subtree and the files of the folders above it; everything when a render unit (a kustomization,
    a chart, a Jsonnet file) is inside."""
    inside = [e for e in entries if _under(e.path, rel)]
    if rel == "." or any(posixpath.basename(e.path) in RENDER_UNIT_FILES or e.path.endswith(".jsonnet")
                         for e in inside):
        return entries
    ancestors = {""}
    parts = rel.split("/")
    for i in range(1, len(parts)):
        ancestors.add("/".join(parts[:i]))
    return inside + [e for e in entries
                     if not _under(e.path, rel) and posixpath.dirname(e.path) in ancestors]


_CHUNK = 1 << 20
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)


def _write_tree(blobs: BlobReader, entries: list[_Entry], dest: Path, *, label: str) -> None:
    """Write ``entries`` (already checked by ``_check_tree``) under ``dest``: regular files first, each into a
    real folder that is verified to be inside ``dest`` and created exclusively (never through a link), then the
    symbolic links; a link whose real path (every link of a chain followed) leaves ``dest`` refuses the export."""
    root = os.path.realpath(dest)
    links: list[tuple[_Entry, str]] = []
    folders = {root}
    for e in entries:
        if e.kind != "blob":  # a submodule ("commit"): its content is not in this repository
            continue
        target = os.path.join(root, *e.path.split("/"))
        parent = os.path.dirname(target)
        if parent not in folders:
            try:
                os.makedirs(parent, exist_ok=True)
            except FileExistsError as err:  # a file and a folder one file system folds together
                raise SourceError(f"{label}: tree entry {_quote(e.path)} collides with another entry on this file "
                                  f"system", hint="rename one of the two in the repository") from err
            except OSError as err:  # e.g. a name too long for this file system
                raise SourceError(f"{label}: tree entry {_quote(e.path)} cannot be written here: "
                                  f"{err.strerror or err}", hint="rename it in the repository") from err
            if not pathguard.is_inside(root, parent):  # defence in depth: _check_tree already refused ".."
                raise SourceError(f"{label}: tree entry {_quote(e.path)} would be written outside the export "
                                  f"folder; nothing was exported", hint="do not deploy this commit")
            folders.add(parent)
        if e.mode == "120000":
            links.append((e, target))
            continue
        mode = 0o755 if e.mode == "100755" else 0o644
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_BINARY, mode)
        except FileExistsError as err:  # two names one file system folds together (case, Unicode normalisation)
            raise SourceError(f"{label}: tree entry {_quote(e.path)} collides with another entry on this file "
                              f"system", hint="rename one of the two files in the repository") from err
        with os.fdopen(fd, "wb") as fh:
            for chunk in blobs.chunks(e.sha, _CHUNK):
                fh.write(chunk)
    for e, target in links:  # after the files, so the containment check sees the final tree
        pointee = blobs.read(e.sha).decode("utf-8", "surrogateescape")
        if not pointee or "\0" in pointee:
            raise SourceError(f"{label}: symbolic link {_quote(e.path)} has an invalid target",
                              hint="do not deploy this commit")
        try:
            os.symlink(pointee, target)
        except FileExistsError as err:
            raise SourceError(f"{label}: tree entry {_quote(e.path)} collides with another entry on this file "
                              f"system", hint="rename one of the two files in the repository") from err
    leaving = [e.path for e, target in links if not pathguard.is_inside(root, target)]
    if leaving:
        more = f" (and {len(leaving) - 1} more)" if len(leaving) > 1 else ""
        raise SourceError(f"{label}: symbolic link {_quote(leaving[0])}{more} points outside the repository; "
                          f"nothing was read through it",
                          hint="links may only point to files of the repository: replace it with a copy of the file "
                               "(see docs/security.md)")


@contextlib.contextmanager
def exported(blobs: BlobReader, sha: str, rel: str, listing: str, *, label: str) -> Iterator[Path]:
    """Export the commit ``sha`` (its ``ls-tree`` ``listing``) for ``rel`` into a private temporary folder,
    removed on exit. ``label`` names the commit in messages."""
    entries = _tree_entries(listing)
    _check_tree(entries, label)  # before anything is written
    if rel != "." and not any(_under(e.path, rel) for e in entries):
        raise SourceError(f"path {rel!r} does not exist in {label}",
                          hint=f"check --path; list the folders of that revision with `git ls-tree -d {sha[:12]}`")
    tmp = Path(tempfile.mkdtemp(prefix="kubectl-gitops-src-"))
    try:
        try:
            _write_tree(blobs, _select(entries, rel), tmp, label=label)
        except OSError as err:
            raise SourceError(f"cannot export {label} into {tmp}: {err.strerror or err}",
                              hint="check the free space and permissions of the temporary folder (TMPDIR)") from err
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
