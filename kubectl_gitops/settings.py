"""Option values shared by commands, as frozen dataclasses (no click, no I/O).

The CLI fills them from flags, then ``KUBECTL_GITOPS_*`` environment variables; the core only reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kubectl_gitops.errors import UsageError


@dataclass(frozen=True)
class ClusterOptions:
    """kubectl's connection flags. ``None`` means: use the kubeconfig's choice."""

    kubeconfig: str | None = None  # one path, or several joined by os.pathsep like KUBECONFIG
    context: str | None = None
    namespace: str | None = None
    request_timeout: float | None = None  # seconds; None = client default


@dataclass(frozen=True)
class SourceOptions:
    """Where the desired state comes from (see kubectl_gitops.source.repo)."""

    repo: str | None = None  # local path or remote URL; None = the repository of the cwd
    path: str = "."
    ref: str | None = None  # None = work tree (diff) or HEAD (sync)
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    helm_values: tuple[str, ...] = ()
    helm_release: str | None = None
    work_tree: bool = True  # read uncommitted files when ref is None
    # Repository content may fetch from the network (kustomize remote resources, helmCharts, chart
    # dependencies) only when the person running the command opts in (--allow-remote); see docs/security.md.
    allow_remote: bool = False
    # Vault/OpenBao path prefixes placeholders may read (--vault-allow-prefix, KUBECTL_GITOPS_VAULT_ALLOW);
    # empty = the default rule: KV mounts only (see kubectl_gitops.secrets.vault).
    vault_allow: tuple[str, ...] = ()


@dataclass(frozen=True)
class AppOptions:
    """Which app's inventory (ApplySet record) a command uses (see kubectl_gitops.engine.inventory)."""

    name: str | None = None  # --app / KUBECTL_GITOPS_APP; None = derived from the repository and path
    record_namespace: str | None = None  # --record-namespace; None = the context's namespace (or -n)


@dataclass(frozen=True)
class OutputOptions:
    format: str = "table"
    color: bool = True
    verbose: int = 0


@dataclass
class Settings:
    """Collected by the option callbacks of one command invocation."""

    cluster: ClusterOptions = field(default_factory=ClusterOptions)
    source: SourceOptions = field(default_factory=SourceOptions)
    output: OutputOptions = field(default_factory=OutputOptions)
    app: AppOptions = field(default_factory=AppOptions)


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str, *, flag: str = "duration") -> float:
    """kubectl-style durations: ``30``, ``30s``, ``5m``, ``1h``, ``250ms``. ``0`` means no timeout."""
    m = _DURATION.match(text.strip())
    if not m:
        raise UsageError(f"invalid value {text!r} for {flag}: use a number with a unit, e.g. 30s, 5m, 1h")
    return float(m.group(1)) * _UNITS[m.group(2)]
