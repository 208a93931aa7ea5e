"""Child apps in a render: which objects are apps (Argo CD Application, Flux Kustomization/HelmRelease), and
``ChildSpec``, what one of them asks for, whichever tool wrote it (docs/apps.md).

``argoapp`` and ``fluxapp`` read the objects into ``ChildSpec``s (all unsupported fields at once, as
problems); ``appsource`` turns a spec into the source options of a normal app; ``ops.apptree`` orders and
runs them. ``AppsFound`` is how a command that renders a tree without asking for one learns that it did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubectl_gitops.errors import InvalidInputError
from kubectl_gitops.model import Manifest
from kubectl_gitops.settings import JsonnetOptions
from kubectl_gitops.source.images import ImageOverride

ARGO_APP = ("argoproj.io", "Application")
FLUX_KUSTOMIZATION = ("kustomize.toolkit.fluxcd.io", "Kustomization")
FLUX_HELMRELEASE = ("helm.toolkit.fluxcd.io", "HelmRelease")
APP_KINDS = frozenset({ARGO_APP, FLUX_KUSTOMIZATION, FLUX_HELMRELEASE})
FLUX_SOURCES = frozenset({("source.toolkit.fluxcd.io", "GitRepository"), ("source.toolkit.fluxcd.io", "HelmRepository"),
                          ("source.toolkit.fluxcd.io", "OCIRepository"), ("source.toolkit.fluxcd.io", "Bucket"),
                          ("source.toolkit.fluxcd.io", "HelmChart")})
IN_CLUSTER = "https://kubernetes.default.svc"


def is_app(m: Manifest) -> bool:
    return (m.group, m.kind) in APP_KINDS


def is_flux_source(m: Manifest) -> bool:
    return (m.group, m.kind) in FLUX_SOURCES


@dataclass(frozen=True)
class Chart:
    """A chart from a Helm repository: ``repo_url`` serves ``index.yaml`` (http/https) or is ``oci://``."""

    repo_url: str
    name: str
    version: str  # exact version or a semver range; "" = the newest


@dataclass
class ChildSpec:
    """One child app: where its manifests come from and how it is synced, ordered and pruned."""

    name: str  # the app's name (its record is kubectl-gitops.<name>)
    kind: str  # Application | Kustomization | HelmRelease
    origin: str  # file:line of the object, for messages
    namespace: str = ""  # the app object's own namespace (Flux dependsOn default)
    repo_url: str = ""  # Git repository URL (empty with a chart)
    ref: str = "HEAD"
    semver: str = ""  # Flux GitRepository ref.semver: the newest matching tag, read when the child is fetched
    path: str = "."
    chart: Chart | None = None
    release_name: str = ""
    value_files: list[str] = field(default_factory=list)  # relative to the chart, or absolute ($values/...)
    values: dict[str, Any] = field(default_factory=dict)  # merged inline values (values, valuesObject, parameters)
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    jsonnet: JsonnetOptions = field(default_factory=JsonnetOptions)  # Argo directory.jsonnet (source.jsonnet)
    # overrides applied to the rendered objects (see appsource.apply_overrides)
    images: list[ImageOverride] = field(default_factory=list)  # kustomize's images: rules (source.images)
    common_labels: dict[str, str] = field(default_factory=dict)
    common_annotations: dict[str, str] = field(default_factory=dict)
    target_namespace: str = ""  # kustomize namespace / Flux targetNamespace: set on every namespaced object
    # run by kustomize over the rendered objects (ops.apptree_kustomize)
    name_prefix: str = ""
    name_suffix: str = ""
    patches: list[dict[str, Any]] = field(default_factory=list)  # kustomize `patches` entries: patch + target
    replicas: list[dict[str, Any]] = field(default_factory=list)  # kustomize `replicas`: name + count
    substitute: dict[str, str] = field(default_factory=dict)  # Flux postBuild.substitute (+ substituteFrom)
    substitute_from: list[dict[str, Any]] = field(default_factory=list)  # resolved by the tree from the render
    # destination and sync
    server: str = ""  # Argo destination.server / .name (mapped to a kubeconfig context)
    dest_namespace: str = ""  # default namespace of the child's objects
    create_namespace: bool = False
    prune: bool = False  # automated.prune / Flux prune: prune during sync and delete the app when removed
    propagation: str = ""
    ignore_differences: list[Any] = field(default_factory=list)
    timeout: float | None = None
    suspend: bool = False
    # order
    wave: int = 0
    depends_on: list[str] = field(default_factory=list)  # Flux: names (namespace/name) of siblings
    value_refs: dict[str, tuple[str, str]] = field(default_factory=dict)  # Argo `ref:` sources: (repoURL, revision)
    manifest: Manifest | None = field(default=None, repr=False)  # the app object itself

    @property
    def identity(self) -> tuple[str, ...]:
        """What the child renders: a child rendering what an ancestor renders is a cycle."""
        if self.chart is not None:
            return ("chart", self.chart.repo_url, self.chart.name, self.chart.version)
        return ("git", self.repo_url.rstrip("/").removesuffix(".git"), self.ref, self.path.strip("/") or ".")

    def describe(self) -> str:
        if self.chart is not None:
            return f"chart {self.chart.name} {self.chart.version or '(newest)'} from {self.chart.repo_url}"
        return f"{self.repo_url} @ {self.ref} path {self.path}"


class AppsFound(InvalidInputError):
    """A render holds app objects and ``--apps`` is auto or expand: the command has a tree to work on.

    Commands that know trees (sync, diff, waves) catch it; the others report it as invalid input (exit 3).
    """

    def __init__(self, apps: list[Manifest]):
        kinds = sorted({f"{m.kind}.{m.group}" for m in apps})
        super().__init__(
            f"the repository holds {len(apps)} child app object(s) ({', '.join(kinds)}): this command does not "
            "work on a tree of apps",
            details=[m.where() for m in apps[:20]],
            hint="run it on one child (--app NAME with the child's --repo/--path), or pass --apps=apply to treat "
                 "them as plain objects")
        self.apps = apps


def detector(manifests: list[Manifest]) -> tuple[list[Manifest], list[str]]:
    """A ``post_render`` that raises ``AppsFound`` when the render holds app objects."""
    apps = [m for m in manifests if is_app(m)]
    if apps:
        raise AppsFound(apps)
    return manifests, []


class FieldChecker:
    """The problems of one app object, all collected before any is raised: a field we do not read, a value of the
    wrong shape; each names file:line, the object and the field, and says what to do (``todo``)."""

    todo = "remove it"

    def __init__(self, m: Manifest):
        self.m = m
        self.problems: list[str] = []

    def bad(self, field: str, text: str) -> None:
        self.problems.append(f"{self.m.origin}: {self.m.kind} {self.m.name}: {field}: {text}")

    def known(self, node: Any, allowed: set[str], where: str) -> dict[str, Any]:
        """``node`` as a mapping whose keys are all in ``allowed`` (each other key is a problem); {} if absent."""
        if node is None:
            return {}
        if not isinstance(node, dict):
            self.bad(where, f"expected a mapping, got {type(node).__name__}; fix the {self.m.kind}")
            return {}
        for key in node:
            if key not in allowed:
                self.bad(f"{where}.{key}", f"not supported by kubectl-gitops; {self.todo}")
        return node
