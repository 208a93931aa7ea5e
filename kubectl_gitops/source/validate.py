"""Structural checks of the desired objects before anything touches the cluster (pure: no I/O).

Every problem is collected, so a user fixes them all in one go; each reads
``apps/web.yaml:12: Deployment.apps demo/web: <what>; <what to do>``. The checks:

* ``apiVersion``, ``kind`` and ``metadata.name`` are present (``generateName`` instead of a name only on
  hook objects, which are created afresh on every sync);
* names and namespaces follow the API server's common rules (DNS-1123 subdomain; a label for
  Namespaces, Services and namespace fields; a path segment for RBAC objects);
* labels and annotations are strings (``sync-wave: 1`` without quotes is a classic);
* no object is defined twice: two files silently overriding each other is a classic GitOps failure, so
  both places are named;
* no namespace on a cluster-scoped kind;
* every kind is served by the cluster or defined by a CustomResourceDefinition in the same set.

Scope (namespaced or not) comes from ``resolve(apiVersion, kind)``, normally the cluster's discovery,
which answers None for what it does not serve; then from CRDs in the set (their ``spec.scope``). With no
resolver (offline, e.g. ``waves``) a built-in table of well-known cluster-scoped kinds is used and unknown
kinds are taken as namespaced. Namespaced objects without a namespace get ``default_namespace``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kubectl_gitops.errors import ValidationError
from kubectl_gitops.model import ANN_HELM_HOOK, ANN_HOOK, CrdSpec, Manifest, ResourceKey, crd_spec, split_api_version

ScopeResolver = Callable[[str, str], bool | None]  # (apiVersion, kind) -> namespaced? None = not served/unknown

# Well-known cluster-scoped kinds by (group, kind), for offline use (resolve=None).
CLUSTER_SCOPED: frozenset[tuple[str, str]] = frozenset({
    ("", "Namespace"), ("", "Node"), ("", "PersistentVolume"), ("", "ComponentStatus"),
    ("rbac.authorization.k8s.io", "ClusterRole"), ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("storage.k8s.io", "StorageClass"), ("storage.k8s.io", "CSIDriver"), ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "VolumeAttachment"), ("storage.k8s.io", "VolumeAttributesClass"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("networking.k8s.io", "IngressClass"), ("networking.k8s.io", "IPAddress"),
    ("networking.k8s.io", "ServiceCIDR"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
    ("node.k8s.io", "RuntimeClass"),
    ("certificates.k8s.io", "CertificateSigningRequest"), ("certificates.k8s.io", "ClusterTrustBundle"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"), ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("policy", "PodSecurityPolicy"),
    ("resource.k8s.io", "DeviceClass"), ("resource.k8s.io", "ResourceSlice"),
    # Popular add-ons whose CRDs are usually installed separately.
    ("cert-manager.io", "ClusterIssuer"),
    ("gateway.networking.k8s.io", "GatewayClass"),
    ("snapshot.storage.k8s.io", "VolumeSnapshotClass"), ("snapshot.storage.k8s.io", "VolumeSnapshotContent"),
    ("kyverno.io", "ClusterPolicy"), ("templates.gatekeeper.sh", "ConstraintTemplate"),
    ("argoproj.io", "ClusterWorkflowTemplate"),
})

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME_KINDS = frozenset({("", "Namespace"), ("", "Service")})
_PATH_SEGMENT_GROUPS = frozenset({"rbac.authorization.k8s.io"})


def has_hook_annotation(m: Manifest) -> bool:
    """Annotated as a hook (Argo's or Helm's annotation, whatever its value): such an object may be named by
    ``generateName`` alone. Whether it runs as a hook is the plan's ``runs_as_hook``."""
    ann = m.obj.get("metadata", {}).get("annotations") if isinstance(m.obj.get("metadata"), dict) else None
    return isinstance(ann, dict) and (ANN_HOOK in ann or ANN_HELM_HOOK in ann)


def _crds(manifests: Iterable[Manifest]) -> dict[tuple[str, str], CrdSpec]:
    found: dict[tuple[str, str], CrdSpec] = {}
    for m in manifests:
        crd = crd_spec(m)
        if crd is not None:
            found[(crd.group, crd.kind)] = crd
    return found


def _name_problem(name: str, group: str, kind: str) -> str | None:
    if (group, kind) in _LABEL_NAME_KINDS:
        if len(name) > 63 or not _DNS_LABEL.match(name):
            return ("must be a DNS-1123 label: at most 63 lowercase letters, digits and '-', "
                    "starting and ending with a letter or digit")
        return None
    if group in _PATH_SEGMENT_GROUPS:
        if name in (".", "..") or "/" in name or "%" in name:
            return "may not be '.' or '..' nor contain '/' or '%'"
        return None
    if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        return ("must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', "
                "starting and ending with a letter or digit, at most 253 characters")
    return None


@dataclass
class Analysis:
    """What ``analyse`` found: the problems, and per manifest whether it is namespaced (None: unknown)."""

    problems: list[str]
    namespaced: list[bool | None]


def _scope(group: str, version: str, api_version: str, kind: str, crd: CrdSpec | None,
           resolve: ScopeResolver | None) -> tuple[bool | None, str | None]:
    """(namespaced?, problem): the cluster, then CRDs in the set, then (offline) the built-in table."""
    if resolve is None:
        return (crd.namespaced if crd is not None else (group, kind) not in CLUSTER_SCOPED), None
    namespaced = resolve(api_version, kind)
    if namespaced is not None:
        return namespaced, None
    if crd is None:
        return None, (f"the cluster does not serve {api_version} {kind} and no CustomResourceDefinition in these "
                      "manifests defines it; check apiVersion and kind for typos, or install the CRD first "
                      "(or add it to the repository)")
    if crd.versions and version not in crd.versions:
        return crd.namespaced, (f"the CustomResourceDefinition for {kind}.{group} defines versions "
                                f"{', '.join(crd.versions)}, not {version}; fix apiVersion")
    return crd.namespaced, None


def analyse(manifests: Sequence[Manifest], *, default_namespace: str, resolve: ScopeResolver | None) -> Analysis:
    """Run every check once; ``validate`` and ``desired.load_desired`` build on this."""
    problems: list[str] = []
    crds = _crds(manifests)
    scopes: list[bool | None] = []
    first_seen: dict[ResourceKey, Manifest] = {}

    for m in manifests:
        obj = m.obj
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        raw_meta = obj.get("metadata")
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        name, generate_name, declared_ns = meta.get("name"), meta.get("generateName"), meta.get("namespace")
        group, version = split_api_version(api_version) if isinstance(api_version, str) else ("", "")
        valid_type = isinstance(api_version, str) and bool(api_version) and isinstance(kind, str) and bool(kind)
        namespaced: bool | None = None
        scope_problem = None
        if valid_type:
            assert isinstance(api_version, str) and isinstance(kind, str)
            namespaced, scope_problem = _scope(group, version, api_version, kind, crds.get((group, kind)), resolve)
        has_ns = isinstance(declared_ns, str) and bool(declared_ns)
        if namespaced is False:
            shown_ns = ""
        elif has_ns:
            shown_ns = str(declared_ns)
        else:  # the default is only shown (and used) when the kind is known to be namespaced
            shown_ns = default_namespace if namespaced else ""
        shown_name = str(name if isinstance(name, str) and name else generate_name or "<no name>")
        ident = f"{shown_ns}/{shown_name}" if shown_ns else shown_name
        if isinstance(kind, str) and kind:
            ident = f"{kind}.{group} {ident}" if group else f"{kind} {ident}"

        def report(what_and_todo: str, _prefix: str = f"{m.origin}: {ident}: ") -> None:
            problems.append(_prefix + what_and_todo)

        scopes.append(namespaced if valid_type and raw_meta is not None and isinstance(raw_meta, dict) else None)
        if not isinstance(api_version, str) or not api_version:
            report("missing apiVersion; add it, e.g. 'apiVersion: v1' or 'apiVersion: apps/v1'")
        if not isinstance(kind, str) or not kind:
            report("missing kind; add it, e.g. 'kind: ConfigMap'")
        if not isinstance(raw_meta, dict):
            what = "missing metadata" if raw_meta is None else "metadata is not a mapping"
            report(f"{what}; add 'metadata:' with at least a name")
            continue
        if not valid_type:
            continue
        assert isinstance(kind, str)
        if scope_problem:
            report(scope_problem)

        # Names.
        if name is None or name == "":
            if generate_name and has_hook_annotation(m):
                if not isinstance(generate_name, str) or _name_problem(generate_name.rstrip("-") or "x", group,
                                                                       kind):
                    report(f"invalid generateName {generate_name!r}; use lowercase letters, digits and '-'")
            elif generate_name:
                report("generateName is only allowed on hook objects (a sync would create a new copy every time); "
                       "set metadata.name")
            else:
                report("missing metadata.name; add a name")
        elif not isinstance(name, str):
            report(f"metadata.name must be a string, not {_type_name(name)}; quote it")
        elif (why := _name_problem(name, group, kind)) is not None:
            report(f"invalid name {name!r}: {why}; rename the object")

        # Namespace.
        if declared_ns is not None and declared_ns != "":
            if not isinstance(declared_ns, str):
                report(f"metadata.namespace must be a string, not {_type_name(declared_ns)}; quote it")
            elif len(declared_ns) > 63 or not _DNS_LABEL.match(declared_ns):
                report(f"invalid namespace {declared_ns!r}: must be a DNS-1123 label (lowercase letters, digits, '-'); "
                       "fix metadata.namespace")
            elif namespaced is False:
                report(f"namespace {declared_ns!r} set on a cluster-scoped kind; remove metadata.namespace")

        # Labels and annotations are maps of strings.
        for field in ("labels", "annotations"):
            values = meta.get(field)
            if values is None:
                continue
            if not isinstance(values, dict):
                report(f"metadata.{field} must be a mapping; write metadata.{field} as 'key: value' lines")
                continue
            for k, v in values.items():
                if not isinstance(v, str):
                    shown = "null" if v is None else str(v).lower() if isinstance(v, bool) else repr(v)
                    report(f"{field[:-1]} {k} is {shown} ({_type_name(v)}), but values must be strings; "
                           f"quote it: {k}: \"{'' if v is None else shown}\"")

        # Duplicates: same group, kind, namespace (after defaulting) and name.
        if isinstance(name, str) and name:
            key = ResourceKey(group, kind, shown_ns, name)
            if key in first_seen:
                report(f"defined twice, also at {first_seen[key].origin}; "
                       "keep one definition (otherwise one silently overrides the other)")
            else:
                first_seen[key] = m
    return Analysis(problems, scopes)


def _type_name(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, (list, dict)):
        return "a list" if isinstance(v, list) else "a mapping"
    return type(v).__name__


def apply_defaults(manifests: Sequence[Manifest], namespaced: Sequence[bool | None], default_namespace: str) -> None:
    """Give namespaced objects without a namespace ``default_namespace`` (in place)."""
    for m, ns in zip(manifests, namespaced, strict=True):
        meta = m.obj.get("metadata")
        if ns and isinstance(meta, dict) and not meta.get("namespace") and default_namespace:
            meta["namespace"] = default_namespace


def find_problems(manifests: list[Manifest], *, default_namespace: str, resolve: ScopeResolver | None) -> list[str]:
    """Every problem of the set, one line each (empty when valid). Does not change the manifests."""
    return analyse(manifests, default_namespace=default_namespace, resolve=resolve).problems


def validate(manifests: list[Manifest], *, default_namespace: str, resolve: ScopeResolver | None,
             extra_problems: Sequence[str] = ()) -> list[Manifest]:
    """Raise ``ValidationError`` with all problems (``extra_problems`` first), or apply defaults and return
    the same manifests."""
    result = analyse(manifests, default_namespace=default_namespace, resolve=resolve)
    problems = [*extra_problems, *result.problems]
    if problems:
        raise ValidationError(problems, hint="fix these in the repository and run again")
    apply_defaults(manifests, result.namespaced, default_namespace)
    return manifests
