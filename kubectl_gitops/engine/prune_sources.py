"""Which members a prune limited by --include/--exclude may consider: the recorded source of each member.

With ``--include``/``--exclude`` only part of the repository is rendered, so "not desired" no longer means
"left Git". A member is then a candidate only when the file it was rendered from (its *source*, recorded per
member by sync, see ``source_of``) would have been selected: ``FileSelection.covers`` (used by
``prune.select``). Hand-written rather than a library: it is the render's own glob rule
(``render.glob_match``), applied to recorded paths instead of a walk. Pure.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass

from kubectl_gitops.model import Origin

# How a member's source is recorded: "<renderer>:<repository-relative path>" of the unit the render selects
# or skips as a whole. ``file``: the plain file; ``kustomize``: the kustomization folder; ``helm``: the chart
# folder; ``helm-template``: the template path Helm names (``<chart folder>/templates/x.yaml``) when the chart
# folder could not be told from it (``covers`` then tries every reading, see ``_units``).
SOURCE_RENDERERS = ("file", "kustomize", "helm", "helm-template")
_HELM_PARTS = frozenset({"templates", "charts", "crds"})
_RELEASE = re.compile(r", release (.+)$")


def _helm_readings(path: str) -> list[str]:
    """Every chart folder a Helm template path can come from: the part before a templates/, charts/ or crds/
    folder (``.`` for a chart at the repository root)."""
    parts = path.split("/")
    return ["/".join(parts[:i]) or "." for i in range(len(parts)) if parts[i] in _HELM_PARTS]


def source_of(origin: Origin, *, release_named: bool = False) -> str | None:
    """The recorded source of an object rendered from ``origin``; None when it is not known.

    A Helm object's origin is its template path; the chart folder is the reading whose name is the release
    (render names the release after the chart folder unless ``--release-name`` was given: ``release_named``)."""
    path = origin.path
    if not path or path.startswith("<"):
        return None
    if origin.renderer == "kustomize":
        return f"kustomize:{origin.detail or path}"  # detail: the kustomization folder, when path is a file in it
    if origin.renderer == "helm":
        readings = _helm_readings(path)
        if not readings:
            return f"helm:{path}"  # the chart folder itself (a document before any "# Source:" line)
        m = _RELEASE.search(origin.detail)
        chart = [u for u in readings if m and posixpath.basename(u) == m.group(1)] if not release_named else []
        return f"helm:{chart[0]}" if len(chart) == 1 else f"helm-template:{path}"
    if origin.renderer in ("file", "jsonnet"):  # a .jsonnet file is selected by the globs as a plain file is
        return f"file:{path}"
    return None


def _units(source: str) -> list[str]:
    """The file or folder the render selected to produce an object of ``source`` (several when a Helm
    template path can be read more than one way)."""
    renderer, _, path = source.partition(":")
    if renderer != "helm-template":
        return [path]
    return _helm_readings(path) or [path]


@dataclass(frozen=True)
class FileSelection:
    """The part of the repository a command rendered: the manifests ``path`` and the ``--include`` and
    ``--exclude`` globs (relative to ``path``, as in ``render``). Inactive without globs: then every member
    is considered, whatever its source (the behaviour before sources were recorded).

    ``selector`` (``-l``) narrows by label instead: a member is inside when its live labels match
    (``prune_plan.selection_covers``); it needs no recorded source. ``resources`` (``--resource``) by key."""

    path: str = "."
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    selector: str = ""
    resources: tuple[str, ...] = ()  # sync --resource GROUP:KIND:[NAMESPACE/]NAME: only those members

    @classmethod
    def of(cls, include: Iterable[str], exclude: Iterable[str], path: str = ".",
           selector: str | None = None, resources: Iterable[str] = ()) -> FileSelection:
        start = posixpath.normpath(path.replace("\\", "/")) if path else "."
        return cls(start, tuple(include), tuple(exclude), selector or "", tuple(resources))

    @property
    def active(self) -> bool:
        """--include/--exclude given: members are placed by their recorded source file."""
        return bool(self.include or self.exclude)

    @property
    def narrowed(self) -> bool:
        """Only part of the repository's objects was rendered: by files or by labels."""
        return self.active or bool(self.selector) or bool(self.resources)

    def describe(self) -> str:
        flags = [f"--include {p}" for p in self.include] + [f"--exclude {p}" for p in self.exclude]
        if self.selector:
            flags.append(f"-l {self.selector}")
        flags += [f"--resource {r}" for r in self.resources]
        return " ".join(flags)

    def _unit_selected(self, unit: str) -> bool:
        from kubectl_gitops.source.render import glob_match

        if self.path != "." and unit != self.path and not unit.startswith(self.path + "/"):
            return False  # the render never looked there
        if unit == self.path:
            return True  # the manifests path itself (a file, a kustomization, a chart) is never filtered
        inner = unit if self.path == "." else unit[len(self.path) + 1:]
        if self.include and not any(glob_match(inner, p) for p in self.include):
            return False
        return not any(glob_match(inner, p) for p in self.exclude)

    def covers(self, source: str | None) -> bool | None:
        """Would the render have read the source of a member? True/False; None when that cannot be told: the
        source is unknown, or a Helm template path whose readings disagree. Always True when inactive."""
        if not self.active:
            return True
        if not source or source.partition(":")[0] not in SOURCE_RENDERERS:
            return None
        answers = {self._unit_selected(u) for u in _units(source)}
        return answers.pop() if len(answers) == 1 else None


EVERYTHING = FileSelection()
