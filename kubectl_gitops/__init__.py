"""kubectl-gitops: push-based GitOps as kubectl plugins, with no server in the cluster.

Data flow (see docs in README): source (git) -> render (plain/kustomize/helm) -> secrets ->
validate -> diff against the live cluster -> plan (phases, waves) -> sync -> inventory -> prune.
Every command is a stop on that path. This package never prints; ``kubectl_gitops.cli`` does.
"""

__version__ = "0.1.0"
FIELD_MANAGER = "kubectl-gitops"
