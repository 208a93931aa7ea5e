"""Plain data shared by every layer: object keys, manifests and where they came from.

Raw API objects stay plain ``dict``s (as the API server sends them); ``Manifest`` wraps a desired
object together with its origin so every message can point at a file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

# Annotations and labels we read or write.
ANN_SYNC_WAVE = "argocd.argoproj.io/sync-wave"
ANN_HOOK = "argocd.argoproj.io/hook"
ANN_HOOK_DELETE_POLICY = "argocd.argoproj.io/hook-delete-policy"
ANN_SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
ANN_COMPARE_OPTIONS = "argocd.argoproj.io/compare-options"
ANN_ARGO_TRACKING_ID = "argocd.argoproj.io/tracking-id"
ANN_HELM_HOOK = "helm.sh/hook"
ANN_HELM_HOOK_WEIGHT = "helm.sh/hook-weight"
ANN_HELM_HOOK_DELETE_POLICY = "helm.sh/hook-delete-policy"
ANN_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ANN_SOURCE_COMMIT = "gitops.kubectl.dev/source-commit"
ANN_FLUX_PRUNE = "kustomize.toolkit.fluxcd.io/prune"


def split_api_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` -> (``apps``, ``v1``); ``v1`` -> (``""``, ``v1``)."""
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return group, version
    return "", api_version


def group_kind(group: str, kind: str) -> str:
    """kubectl's GroupKind string: ``Deployment.apps``, ``ConfigMap`` (the core group has no suffix)."""
    return f"{kind}.{group}" if group else kind


@dataclass(frozen=True, order=True)
class ResourceKey:
    """Identity of an object in a cluster. ``namespace`` is ``""`` for cluster-scoped objects."""

    group: str
    kind: str
    namespace: str
    name: str

    @property
    def group_kind(self) -> str:
        """kubectl style: ``Deployment.apps``, ``ConfigMap``."""
        return group_kind(self.group, self.kind)

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.group_kind} {where}"

    @classmethod
    def of(cls, obj: Obj) -> ResourceKey:
        meta = obj.get("metadata") or {}
        fields = (obj.get("apiVersion", ""), obj.get("kind", ""), meta.get("namespace"), meta.get("name"),
                  meta.get("generateName"))
        cacheable = all(v is None or v.__class__ is str for v in fields)  # not: 1 == True, unhashable values
        if cacheable and fields in _KEYS:
            return _KEYS[fields]  # keys are asked for again and again (plans, diffs, inventories): reuse them
        group, _ = split_api_version(str(fields[0]))
        key = cls(group, str(fields[1]), str(fields[2] or ""), str(fields[3] or fields[4] or ""))
        if cacheable:
            _KEYS[fields] = key
        return key


_KEYS: dict[tuple[Any, ...], ResourceKey] = {}


@dataclass(frozen=True)
class Origin:
    """Where a desired object came from: a file and line, or a kustomize overlay / Helm chart."""

    path: str  # relative to the repository root
    line: int | None = None  # 1-based line of the document start, when known
    renderer: str = "file"  # file | kustomize | helm | jsonnet
    detail: str = ""  # e.g. "chart demo, release demo" or the overlay folder

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        if self.renderer != "file":
            where = f"{where} ({self.renderer}{': ' + self.detail if self.detail else ''})"
        return where


@dataclass
class Manifest:
    """A desired object with its origin. ``obj`` is mutable until validation; treat it as read-only after."""

    obj: Obj
    origin: Origin = field(default_factory=lambda: Origin("<unknown>"))
    # paths (keys and list indices) of the fields whose value came from a secret: sops or a placeholder
    secret_fields: frozenset[tuple[Any, ...]] = field(default=frozenset(), repr=False, compare=False)

    @property
    def api_version(self) -> str:
        return str(self.obj.get("apiVersion", ""))

    @property
    def group(self) -> str:
        return split_api_version(self.api_version)[0]

    @property
    def version(self) -> str:
        return split_api_version(self.api_version)[1]

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def metadata(self) -> Obj:
        return self.obj.setdefault("metadata", {})

    @property
    def name(self) -> str:
        return str(self.metadata.get("name") or "")

    @property
    def generate_name(self) -> str:
        return str(self.metadata.get("generateName") or "")

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace") or "")

    @property
    def annotations(self) -> dict[str, str]:
        return self.metadata.get("annotations") or {}

    @property
    def labels(self) -> dict[str, str]:
        return self.metadata.get("labels") or {}

    @property
    def key(self) -> ResourceKey:
        return ResourceKey.of(self.obj)

    def where(self) -> str:
        """``Deployment.apps demo/web (apps/web.yaml:12)`` for messages."""
        return f"{self.key} ({self.origin})"


CRD_GROUP = "apiextensions.k8s.io"


@dataclass(frozen=True)
class CrdSpec:
    """What a CustomResourceDefinition serves, read from its spec."""

    group: str
    kind: str
    namespaced: bool
    versions: tuple[str, ...]  # spec.versions[].name, or v1beta1's spec.version


def crd_spec(m: Manifest) -> CrdSpec | None:
    """The group/kind (scope, versions) a CRD serves; ``None`` when ``m`` is not a CRD or its spec lacks a
    string ``group`` or ``names.kind`` (validation reports those). The one reader of a CRD's spec."""
    if m.kind != "CustomResourceDefinition" or m.group != CRD_GROUP:
        return None
    spec = m.obj.get("spec")
    if not isinstance(spec, dict):
        return None
    names = spec.get("names")
    group, kind = spec.get("group"), names.get("kind") if isinstance(names, dict) else None
    if not isinstance(group, str) or not isinstance(kind, str):
        return None
    versions = tuple(str(v.get("name")) for v in spec.get("versions") or [] if isinstance(v, dict))
    if not versions and isinstance(spec.get("version"), str):  # apiextensions v1beta1
        versions = (spec["version"],)
    return CrdSpec(group, kind, spec.get("scope", "Namespaced") != "Cluster", versions)
