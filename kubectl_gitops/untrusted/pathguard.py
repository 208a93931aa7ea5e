"""Containment of repository paths: does a path, after following every symbolic link, stay inside a root?

A repository is untrusted input (docs/security.md): a link such as ``leak.yaml -> ~/.kube/config`` or a
chain of relative links (``d -> ../..`` plus ``x.yaml -> d/../etc/passwd``) must not make the tool read a
file of the machine it runs on. Lexical checks miss chains, so every check here resolves real paths with
``os.path.realpath`` (which follows each link of a chain) and compares them with the root's real path.
Messages name the link, never its target's content; the standard library does the job, so no dependency.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path


def _real(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(path)


def is_inside(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> bool:
    """True when ``path`` resolves (all links followed) to ``root`` or something below it."""
    top = _real(root)
    real = _real(path)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def escaping_links(root: str | os.PathLike[str], start: str | os.PathLike[str] | None = None) -> Iterator[str]:
    """Repository-relative paths (``/``-separated) of the symbolic links under ``start`` (default: ``root``)
    whose real path leaves ``root``. Dangling links that point outside count too; ``.git`` is skipped.
    Links are not followed while walking, so a link loop cannot make this run forever."""
    top = Path(root)
    base = Path(start) if start is not None else top
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in sorted(filenames) + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            full = os.path.join(dirpath, name)
            if os.path.islink(full) and not is_inside(top, full):
                yield Path(os.path.relpath(full, top)).as_posix()
