"""``run_agent_manifests``: the in-cluster agent for a repository/app (``kubectl gitops agent manifests``).

Renders the repository as ``sync`` would (committed content at ``--ref``; secrets are not decrypted — only kinds
and namespaces matter) and asks the cluster's discovery which resource and scope each kind has, so the RBAC names
exactly the resources the app writes (engine/agent_manifests.py). Reads discovery only; writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubectl_gitops.cluster.client import Cluster
from kubectl_gitops.engine.agent_manifests import AgentSpec, Resource, manifests
from kubectl_gitops.errors import ValidationError
from kubectl_gitops.model import Manifest, crd_spec
from kubectl_gitops.ops.app import app_name
from kubectl_gitops.settings import Settings
from kubectl_gitops.source.desired import load_desired


@dataclass
class AgentResult:
    spec: AgentSpec
    objects: list[dict[str, object]]
    resources: dict[str, set[Resource]]


def _crd_resources(desired: list[Manifest]) -> dict[tuple[str, str], Resource]:
    out = {}
    for m in desired:
        spec = crd_spec(m)
        plural = ((m.obj.get("spec") or {}).get("names") or {}).get("plural")
        if spec is not None and isinstance(plural, str):
            out[(spec.group, spec.kind)] = Resource(spec.group, plural, spec.namespaced)
    return out


def run_agent_manifests(settings: Settings, spec: AgentSpec) -> AgentResult:
    """The agent's objects for ``spec``; its ``app`` and ``record_namespace`` are filled in when empty. With
    several ``spec.paths`` (one app each, ``sync --watch PATH...``) the RBAC covers the kinds of every app."""
    cluster = Cluster.connect(settings.cluster, pool_size=2)
    try:
        discovery = cluster.discovery
        every: list[Settings] = [settings]
        if len(spec.paths) > 1:
            from kubectl_gitops.ops.watch_group import app_settings

            every = app_settings(settings, spec.paths)
        all_manifests: list[Manifest] = []
        for one in every:
            desired = load_desired(one.source, committed_only=True, default_namespace=spec.namespace,
                                   resolve=discovery.scope)
            all_manifests += desired.manifests
        if not spec.app:
            spec = AgentSpec(**{**spec.__dict__, "app": app_name(settings, desired.checkout)})
        crds = _crd_resources(all_manifests)
        # a namespace the repository creates itself cannot hold a Role before the agent made it: its kinds are
        # granted by the ClusterRole instead (said in docs/pull-mode.md)
        created = {m.name for m in all_manifests if m.group == "" and m.kind == "Namespace"}
        resources: dict[str, set[Resource]] = {}
        unknown = []
        for m in all_manifests:
            rt = discovery.lookup(m.api_version, m.kind)
            res = Resource(rt.group, rt.plural, rt.namespaced) if rt is not None else crds.get((m.group, m.kind))
            if res is None:
                unknown.append(f"{m.origin}: {m.key}: the cluster does not serve {m.api_version} {m.kind}")
                continue
            where = m.key.namespace if res.namespaced and m.key.namespace not in created else ""
            resources.setdefault(where, set()).add(res)
        if unknown:
            raise ValidationError(unknown, hint="RBAC is derived from the kinds the cluster serves: install their "
                                                "CRDs first, or add the CRDs to the repository")
        return AgentResult(spec, manifests(spec, resources), resources)
    finally:
        cluster.close()


__all__ = ["AgentResult", "run_agent_manifests"]
