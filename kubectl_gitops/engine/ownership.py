"""Ownership: who else manages a live object, and the desired objects sync must not take without ``--adopt``.

``owner_of`` names who else manages an object (another ApplySet, Argo CD, Flux, kapp, Helm);
``ownership_conflicts`` lists every desired object sync must not take without ``--adopt``;
``resolve_applyset_names`` gives other ApplySets' parents readable names (the one function here that reads the
cluster).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kubectl_gitops.engine.inventory import (
    ANN_APP,
    ANN_TOOLING,
    LABEL_APPLYSET_ID,
    LABEL_PART_OF,
    TOOLING_NAME,
    AppRef,
)
from kubectl_gitops.errors import RefusedError
from kubectl_gitops.model import ANN_ARGO_TRACKING_ID, Obj, ResourceKey

if TYPE_CHECKING:
    from kubectl_gitops.cluster.client import Cluster

# Other tools' ownership markers.
LABEL_ARGO_INSTANCE = "app.kubernetes.io/instance"
ARGO_MANAGERS = ("argocd-controller", "argocd-application-controller")
LABEL_FLUX_KUSTOMIZE_NAME = "kustomize.toolkit.fluxcd.io/name"
LABEL_FLUX_KUSTOMIZE_NAMESPACE = "kustomize.toolkit.fluxcd.io/namespace"
LABEL_FLUX_HELM_NAME = "helm.toolkit.fluxcd.io/name"
LABEL_FLUX_HELM_NAMESPACE = "helm.toolkit.fluxcd.io/namespace"
LABEL_KAPP_APP = "kapp.k14s.io/app"
ANN_HELM_RELEASE_NAME = "meta.helm.sh/release-name"
ANN_HELM_RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"
_FLUX_MARKERS = ((LABEL_FLUX_KUSTOMIZE_NAME, LABEL_FLUX_KUSTOMIZE_NAMESPACE, "Flux Kustomization"),
                 (LABEL_FLUX_HELM_NAME, LABEL_FLUX_HELM_NAMESPACE, "Flux HelmRelease"))


@dataclass(frozen=True)
class Owner:
    """Who else manages an object: ``Owner("Argo CD", "app guestbook", "annotation argocd.argoproj.io/...")``."""

    tool: str
    name: str
    marker: str  # the label or annotation that says so

    def __str__(self) -> str:
        return f"{self.tool} {self.name} ({self.marker})"


def _managers(obj: Obj) -> set[str]:
    return {str(m.get("manager") or "") for m in (obj.get("metadata") or {}).get("managedFields") or []}


def owner_of(obj: Obj, our_id: str) -> Owner | None:
    """The other owner of a live object, or None when it is ours or nobody's (see ``is_ours``).

    ``app.kubernetes.io/instance`` alone is not Argo CD's: Helm charts and kustomize bases set it as the
    standard "instance" label. It counts only with evidence that Argo CD's controller wrote the object (a
    ``managedFields`` entry of ``argocd-controller`` or ``argocd-application-controller``).
    """
    meta = obj.get("metadata") or {}
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    part_of = labels.get(LABEL_PART_OF)
    if part_of == our_id:
        return None
    if part_of:
        return Owner("ApplySet", part_of, f"label {LABEL_PART_OF}")
    tracking = annotations.get(ANN_ARGO_TRACKING_ID)
    if tracking:
        return Owner("Argo CD", f"app {str(tracking).split(':', 1)[0]}", f"annotation {ANN_ARGO_TRACKING_ID}")
    instance = labels.get(LABEL_ARGO_INSTANCE)
    if instance and any(m.startswith(ARGO_MANAGERS) for m in _managers(obj)):
        return Owner("Argo CD", f"app {instance}", f"label {LABEL_ARGO_INSTANCE}, written by Argo CD's controller")
    for name_label, ns_label, tool in _FLUX_MARKERS:
        if labels.get(name_label):
            ns = labels.get(ns_label)
            return Owner(tool, f"{ns}/{labels[name_label]}" if ns else labels[name_label], f"label {name_label}")
    if labels.get(LABEL_KAPP_APP):
        return Owner("kapp", f"app {labels[LABEL_KAPP_APP]}", f"label {LABEL_KAPP_APP}")
    release = annotations.get(ANN_HELM_RELEASE_NAME)
    if release:
        ns = annotations.get(ANN_HELM_RELEASE_NAMESPACE)
        return Owner("Helm", f"release {ns + '/' if ns else ''}{release}", f"annotation {ANN_HELM_RELEASE_NAME}")
    return None


def is_ours(obj: Obj, our_id: str) -> bool:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(LABEL_PART_OF) == our_id


@dataclass(frozen=True)
class Conflict:
    """A desired object that exists and is not ours: owned by ``owner``, or by nobody (``owner`` None)."""

    key: ResourceKey
    owner: Owner | None
    where: str = ""  # file:line of the manifest

    def describe(self, names: Mapping[str, str] | None = None) -> str:
        """One line; ``names`` maps other ApplySet ids to readable parents (see ``resolve_applyset_names``)."""
        src = f" ({self.where})" if self.where else ""
        if self.owner is None:
            return f"{self.key}{src}: exists and belongs to no app (created by hand or by another tool)"
        owner = str(self.owner)
        if self.owner.tool == "ApplySet" and names and self.owner.name in names:
            owner = f"ApplySet {self.owner.name} of {names[self.owner.name]}"
        return f"{self.key}{src}: belongs to {owner}"

    def __str__(self) -> str:
        return self.describe()


def ownership_conflicts(desired: Iterable[ResourceKey], live: Mapping[ResourceKey, Obj], our_id: str,
                        *, where: Mapping[ResourceKey, str] | None = None) -> list[Conflict]:
    """Every desired object that exists in the cluster and is not a member of our set, in key order."""
    out = []
    for key in sorted(set(desired)):
        obj = live.get(key)
        if obj is None or is_ours(obj, our_id):
            continue
        out.append(Conflict(key, owner_of(obj, our_id), (where or {}).get(key, "")))
    return out


def conflicts_error(conflicts: list[Conflict], app: AppRef, names: Mapping[str, str] | None = None) -> RefusedError:
    """One error naming every conflict. ``names`` maps other ApplySet ids to a readable parent name."""
    lines = [c.describe(names) for c in conflicts]
    foreign = any(c.owner is not None for c in conflicts)
    hint = ("these objects are not part of app " + app.name + ": remove them from the repository, or pass --adopt "
            "to take them over deliberately")
    if foreign:
        hint += ("; --adopt does not remove the other tool's markers, so detach them from that tool first "
                 "(and add --force-conflicts if it owns fields with other values)")
    return RefusedError(f"{len(conflicts)} object(s) already exist and are not owned by app {app.name}; "
                        "nothing was changed", details=lines, hint=hint)


def resolve_applyset_names(cluster: Cluster, ids: Iterable[str]) -> dict[str, str]:
    """Readable names for other ApplySets' ids (``Secret team-a/kubectl-gitops.web``), best effort: one LIST of
    Secrets and one of ConfigMaps across namespaces. Ids whose parent cannot be found are left out."""
    from kubectl_gitops.cluster.client import ApiError, ClusterError

    wanted = set(ids)
    out: dict[str, str] = {}
    if not wanted:
        return out
    for kind in ("Secret", "ConfigMap"):
        rt = cluster.discovery.lookup("v1", kind)
        if rt is None:
            continue
        try:
            for obj in cluster.list(rt, None, label_selector=LABEL_APPLYSET_ID):
                meta = obj.get("metadata") or {}
                pid = (meta.get("labels") or {}).get(LABEL_APPLYSET_ID)
                if pid in wanted and pid not in out:
                    ann = meta.get("annotations") or {}
                    app = ann.get(ANN_APP)
                    tooling = ann.get(ANN_TOOLING, "unknown tooling")
                    label = f"kubectl-gitops app {app}" if app and tooling.startswith(TOOLING_NAME + "/") else tooling
                    out[pid] = f"{label} ({kind} {meta.get('namespace')}/{meta.get('name')})"
        except (ApiError, ClusterError):
            continue  # no permission to list everywhere: the id is all we can say
    return out
