"""A tree of apps: its nodes, and the order children run in (Argo CD waves, Flux ``dependsOn``), as layers.

Order, the same rule for every parent:

* Applications are ordinary objects of their parent in Argo CD, so its order applies to them: phase (an
  Application is in Sync), the ``argocd.argoproj.io/sync-wave`` annotation, kind (all the same), name. Every
  Application of a lower wave comes before every Application of a higher one.
* Flux Kustomizations and HelmReleases run after the siblings they ``dependsOn`` (``namespace/name``; the
  namespace defaults to the object's own). A dependency on something that is not a sibling, or a cycle, is
  invalid input listing every such object.

The order is a graph; ``layers`` linearises it (Kahn's algorithm): each layer holds children whose
predecessors are all in earlier layers, so the children of one layer may run in parallel
(``--app-concurrency``). A failed child stops every later layer (``ops.apptree``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubectl_gitops.engine.annotations import annotation_problems, wave
from kubectl_gitops.errors import ValidationError
from kubectl_gitops.settings import Settings
from kubectl_gitops.source.appspec import ChildSpec


@dataclass
class AppNode:
    """One app of the tree: the root (the repository path given) or a child app."""

    name: str
    settings: Settings  # as if the app were synced alone: its --repo, --ref, --path, --app, context, namespace
    spec: ChildSpec | None = None  # None for the root
    parent: str | None = None
    layers: list[list[AppNode]] = field(default_factory=list)
    objects: int = 0  # its own objects (child app objects not counted)
    source: str = ""  # what was read, for the tree view

    @property
    def children(self) -> list[AppNode]:
        return [c for layer in self.layers for c in layer]

    def walk(self) -> list[AppNode]:
        """This node and every descendant, in run order."""
        out = [self]
        for c in self.children:
            out.extend(c.walk())
        return out

    @property
    def order(self) -> str:
        """How this child is ordered among its siblings, for the tree view."""
        if self.spec is None:
            return ""
        if self.spec.kind == "Application":
            return f"wave {self.spec.wave}"
        deps = ", ".join(d.split("/", 1)[1] for d in self.spec.depends_on)
        return f"after {deps}" if deps else "no dependsOn"


def child_waves(specs: list[ChildSpec]) -> list[str]:
    """Read each Application's sync wave into its spec; problems of invalid wave annotations."""
    problems: list[str] = []
    for s in specs:
        if s.kind == "Application" and s.manifest is not None:
            problems.extend(annotation_problems(s.manifest))
            s.wave = wave(s.manifest)
    return problems


def layers(specs: list[ChildSpec]) -> list[list[ChildSpec]]:
    """The children in run order (module docstring). Raises ValidationError for missing dependencies and cycles."""
    by_id = {f"{s.namespace}/{s.name}": s for s in specs if s.kind != "Application"}
    after: dict[int, set[int]] = {i: set() for i in range(len(specs))}  # i runs after every index in after[i]
    index = {id(s): i for i, s in enumerate(specs)}
    problems = []
    for i, s in enumerate(specs):
        if s.kind == "Application":
            after[i] |= {j for j, o in enumerate(specs) if o.kind == "Application" and o.wave < s.wave}
        for dep in s.depends_on:
            target = by_id.get(dep)
            if target is None:
                problems.append(f"{s.origin}: {s.kind} {s.name}: dependsOn {dep}, which is not a "
                                f"Kustomization/HelmRelease next to it; add it or remove the dependency")
            else:
                after[i].add(index[id(target)])
    if problems:
        raise ValidationError(problems, hint="fix dependsOn in the repository and run again")
    done: set[int] = set()
    out: list[list[ChildSpec]] = []
    while len(done) < len(specs):
        ready = [i for i in range(len(specs)) if i not in done and after[i] <= done]
        if not ready:
            stuck = [specs[i] for i in range(len(specs)) if i not in done]
            raise ValidationError(
                [f"{s.origin}: {s.kind} {s.name}: dependsOn {', '.join(s.depends_on)}" for s in stuck],
                hint="these dependsOn form a cycle (or wait on one): remove one of the dependencies")
        ready.sort(key=lambda i: (specs[i].wave, specs[i].name))
        out.append([specs[i] for i in ready])
        done.update(ready)
    return out
