"""The in-cluster agent's objects: ``sync --watch`` in a Deployment, with least-privilege RBAC derived from the kinds
the repository holds (``kubectl gitops agent manifests``), and the Containerfile that builds its image.

What the agent may do, and nothing else:

* **the app's objects**: for each namespace the repository writes to, a Role (and RoleBinding) with exactly the
  resources of the kinds it holds there; a ClusterRole only for the cluster-scoped kinds it holds (Namespaces,
  CRDs, ClusterRoles, ...) and for the kinds it puts in namespaces it creates itself (a Role cannot exist in a
  namespace before the agent made it). Verbs: ``get, list, watch`` (live reads, drift checks, prune listings), ``create,
  patch, update`` (server-side apply; hooks are created), ``delete`` (prune, hook delete policies).
* **the record's namespace**: ``secrets`` (the record: get, list, create, patch, update), ``leases`` in
  ``coordination.k8s.io`` (get, create, update — never delete), ``events`` (create, patch).

A kind added to the repository later needs the manifests generated again (the sync says which permission it
lacks, exit 5): RBAC that follows the repository is the point. Pure: no cluster; ``ops/agent.py`` renders the
repository and asks the cluster's discovery which resource and scope each kind has.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

OBJECT_VERBS = ["get", "list", "watch", "create", "patch", "update", "delete"]
METRICS_PORT = 9090
RUN_AS = 65532  # "nonroot" in distroless images
CACHE = "/cache"


@dataclass(frozen=True)
class Resource:
    group: str
    resource: str  # plural
    namespaced: bool


@dataclass(frozen=True)
class AgentSpec:
    app: str
    namespace: str  # where the agent runs (and, by default, where the record lives)
    record_namespace: str
    image: str
    repo: str | None  # None: the URL comes from the Git Secret (key ``url``), tokens included
    ref: str | None = None
    path: str = "."
    git_secret: str | None = None  # a Secret: ``url`` (https with a token) or ``ssh-privatekey`` + ``known_hosts``
    git_auth: str = "token"  # token | ssh
    interval: str = "1m"
    drift_interval: str = "5m"
    self_heal: bool = False
    prune: bool = False
    replicas: int = 2
    extra_args: tuple[str, ...] = field(default_factory=tuple)
    paths: tuple[str, ...] = ()  # several apps in one agent (``sync --watch PATH...``); ``app`` then names the agent

    @property
    def name(self) -> str:
        return f"kubectl-gitops-{self.app}"[:63].rstrip("-")


def _rules(resources: Iterable[Resource]) -> list[dict[str, Any]]:
    by_group: dict[str, set[str]] = {}
    for r in resources:
        by_group.setdefault(r.group, set()).add(r.resource)
    return [{"apiGroups": [g], "resources": sorted(rs), "verbs": list(OBJECT_VERBS)}
            for g, rs in sorted(by_group.items())]


def _labels(spec: AgentSpec) -> dict[str, str]:
    return {"app.kubernetes.io/name": "kubectl-gitops", "app.kubernetes.io/instance": spec.app,
            "app.kubernetes.io/component": "agent"}


def _meta(spec: AgentSpec, name: str, namespace: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "labels": _labels(spec)}
    if namespace is not None:
        out["namespace"] = namespace
    return out


def rbac(spec: AgentSpec, resources: Mapping[str, set[Resource]]) -> list[dict[str, Any]]:
    """``resources``: namespace ("" for cluster-scoped) -> the resources of the kinds the repository holds there."""
    sa = {"kind": "ServiceAccount", "name": spec.name, "namespace": spec.namespace}
    out: list[dict[str, Any]] = []
    record_rules = [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "create", "patch", "update"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]},
        {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
    ]
    namespaces = sorted(ns for ns in resources if ns)
    for ns in sorted(set(namespaces) | {spec.record_namespace}):
        rules = _rules(resources.get(ns, set()))
        if ns == spec.record_namespace:
            rules = record_rules + rules
        name = spec.name if ns == spec.record_namespace else f"{spec.name}-objects"
        out.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta(spec, name, ns),
                    "rules": rules})
        out.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                    "metadata": _meta(spec, name, ns), "subjects": [sa],
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name}})
    cluster = resources.get("", set())
    if cluster:
        out.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                    "metadata": _meta(spec, spec.name), "rules": _rules(cluster)})
        out.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                    "metadata": _meta(spec, spec.name), "subjects": [sa],
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": spec.name}})
    return out


def agent_args(spec: AgentSpec) -> list[str]:
    apps = [*spec.paths] if len(spec.paths) > 1 else ["--app", spec.app]  # several: each app's name is derived
    args = ["sync", "--watch", *apps, "--record-namespace", spec.record_namespace,
            "--interval", spec.interval, "--drift-interval", spec.drift_interval,
            "--metrics-addr", f"0.0.0.0:{METRICS_PORT}", "-o", "json"]
    if spec.repo:
        args += ["--repo", spec.repo]
    if spec.ref:
        args += ["--ref", spec.ref]
    if len(spec.paths) <= 1 and spec.path not in ("", "."):
        args += ["--path", spec.path]
    if spec.self_heal:
        args.append("--self-heal")
    if spec.prune:
        args += ["--prune", "--yes"]
    return args + list(spec.extra_args)


def deployment(spec: AgentSpec) -> dict[str, Any]:
    env: list[dict[str, Any]] = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "HOME", "value": "/tmp"},
        {"name": "KUBECTL_GITOPS_CACHE", "value": CACHE},
    ]
    mounts: list[dict[str, Any]] = [{"name": "cache", "mountPath": CACHE}, {"name": "tmp", "mountPath": "/tmp"}]
    volumes: list[dict[str, Any]] = [{"name": "cache", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]
    if spec.git_secret and spec.git_auth == "token" and not spec.repo:
        env.append({"name": "KUBECTL_GITOPS_REPO", "valueFrom": {"secretKeyRef": {"name": spec.git_secret,
                                                                                    "key": "url"}}})
    if spec.git_secret and spec.git_auth == "ssh":
        volumes.append({"name": "git-ssh", "secret": {"secretName": spec.git_secret, "defaultMode": 0o400}})
        mounts.append({"name": "git-ssh", "mountPath": "/etc/git-ssh", "readOnly": True})
        env.append({"name": "GIT_SSH_COMMAND", "value": "ssh -i /etc/git-ssh/ssh-privatekey -o IdentitiesOnly=yes "
                                                        "-o UserKnownHostsFile=/etc/git-ssh/known_hosts "
                                                        "-o StrictHostKeyChecking=yes"})
    probe = {"httpGet": {"path": "/healthz", "port": "metrics"}, "periodSeconds": 30, "failureThreshold": 3}
    container = {
        "name": "agent", "image": spec.image, "args": agent_args(spec), "env": env,
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT}],
        "livenessProbe": probe,
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "metrics"}, "periodSeconds": 10},
        "resources": {"requests": {"cpu": "10m", "memory": "96Mi"}, "limits": {"memory": "384Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": mounts,
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(spec, spec.name, spec.namespace),
        "spec": {
            "replicas": spec.replicas,
            "selector": {"matchLabels": _labels(spec)},
            "template": {
                "metadata": {"labels": _labels(spec),
                             "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": str(METRICS_PORT)}},
                "spec": {
                    "serviceAccountName": spec.name,
                    # SIGTERM lets the current wave finish (up to --wave-timeout, 5m by default)
                    "terminationGracePeriodSeconds": 330,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS,
                                        "fsGroup": RUN_AS, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def manifests(spec: AgentSpec, resources: Mapping[str, set[Resource]]) -> list[dict[str, Any]]:
    """Every object of the agent: ServiceAccount, RBAC, Deployment (the Git Secret is referenced, never made)."""
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(spec, spec.namespace)}
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(spec, spec.name, spec.namespace)}
    return [ns, sa, *rbac(spec, resources), deployment(spec)]


CONTAINERFILE = """\
# The kubectl-gitops agent image, built from the released bundle (docs/pull-mode.md).
#   podman build -t registry.example.com/kubectl-gitops:{version} --build-arg VERSION={version} -f Containerfile .
FROM docker.io/library/python:3.12-slim
ARG VERSION={version}
ARG TARGETARCH=amd64
# git for the source, ssh for ssh:// and git@ remotes; helm and kustomize only if the repository needs them
RUN apt-get update \\
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates \\
 && rm -rf /var/lib/apt/lists/*
ARG RELEASES=https://github.com/kubectl-gitops/kubectl-gitops/releases/download
ADD ${{RELEASES}}/v${{VERSION}}/kubectl-gitops_v${{VERSION}}_linux_${{TARGETARCH}}.tar.gz /tmp/bundle.tar.gz
RUN mkdir -p /opt/kubectl-gitops && tar -xzf /tmp/bundle.tar.gz -C /opt/kubectl-gitops && rm /tmp/bundle.tar.gz \\
 && ln -s /opt/kubectl-gitops/kubectl-gitops /usr/local/bin/kubectl-gitops
USER {uid}:{uid}
ENV HOME=/tmp KUBECTL_GITOPS_CACHE={cache}
ENTRYPOINT ["kubectl-gitops"]
CMD ["sync", "--watch", "--metrics-addr", "0.0.0.0:{port}", "-o", "json"]
"""


def containerfile(version: str) -> str:
    return CONTAINERFILE.format(version=version, uid=RUN_AS, cache=CACHE, port=METRICS_PORT)


__all__ = ["AgentSpec", "Resource", "agent_args", "containerfile", "deployment", "manifests", "rbac"]
