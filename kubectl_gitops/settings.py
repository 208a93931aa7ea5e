"""Option values shared by commands, as frozen dataclasses (no click, no I/O), and the environment the core reads.

The CLI fills the options from flags, then ``KUBECTL_GITOPS_*`` environment variables; the core only reads them.
The core's own tunables from the environment (helm/kustomize/kubectl binaries, render and git timeouts, the
clone cache, the discovery cache's lifetime, the transport switch, the placeholders off switch, the fault point
of crash tests, who runs the command) are read only here, by ``environment()``, at the moment they are used, so
a test or a long-lived process that changes one is seen; the variable names are defined here once.

Exceptions, each explained in its module's docstring: rules of another tool that we mirror read their own
variables where that tool's rule is implemented — kubectl's (``KUBECONFIG``, ``KUBERNETES_SERVICE_HOST``/
``_PORT`` in-cluster, ``HTTPS_PROXY``/``NO_PROXY``: cluster.kubeconfig, cluster.officialclient), sops' key
variables (``SOPS_AGE_KEY*``: secrets.keys, secrets), the Vault CLI's (``VAULT_*``/``BAO_*``/``AVP_*``:
secrets.vault ``from_env``); and child processes (git, helm, kustomize, exec credential plugins) inherit
the environment as they would from a shell (source.repo, cluster.transport).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubectl_gitops.errors import UsageError


@dataclass(frozen=True)
class ClusterOptions:
    """kubectl's connection flags. ``None`` means: use the kubeconfig's choice."""

    kubeconfig: str | None = None  # one path, or several joined by os.pathsep like KUBECONFIG
    context: str | None = None
    namespace: str | None = None
    request_timeout: float | None = None  # seconds; None = client default
    field_manager: str | None = None  # --field-manager for server-side apply; None = kubectl-gitops
    # kubectl's impersonation flags (--as, --as-group, --as-uid): they replace the kubeconfig user's as/as-groups/
    # as-uid; a policy rule's serviceAccount replaces both (see kubectl_gitops.ops.policy)
    as_user: str | None = None
    as_groups: tuple[str, ...] = ()
    as_uid: str | None = None


@dataclass(frozen=True)
class JsonnetOptions:
    """Inputs of ``.jsonnet`` files, as Argo CD's ``spec.source.directory.jsonnet`` (see source.jsonnet).

    Each variable is ``(name, value)``; ``*_code`` values are Jsonnet code, the others strings. ``libs`` are
    library folders relative to the repository root, searched after the importing file's folder."""

    ext_vars: tuple[tuple[str, str], ...] = ()
    ext_codes: tuple[tuple[str, str], ...] = ()
    tla_vars: tuple[tuple[str, str], ...] = ()
    tla_codes: tuple[tuple[str, str], ...] = ()
    libs: tuple[str, ...] = ()


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
    # Render-time overrides from the person running the command (see kubectl_gitops.source.images and
    # source.helmset): --image NAME=REF, --image-field [KIND[.GROUP]:]PATH, helm --set/--set-string/--set-file.
    images: tuple[str, ...] = ()
    image_fields: tuple[str, ...] = ()
    helm_set: tuple[str, ...] = ()
    helm_set_string: tuple[str, ...] = ()
    helm_set_file: tuple[str, ...] = ()
    # kubectl's -l/--selector: only desired objects whose labels match (source.labels); prune stays inside it.
    selector: str | None = None
    kustomize: bool = False  # -k DIR: the folder must be a kustomization, as for kubectl
    # sync --resource GROUP:KIND:[NAMESPACE/]NAME (Argo CD's partial sync; source.resources); hooks only when
    # resource_hooks (--with-hooks). Applied by ops.common.load, after the render.
    resources: tuple[str, ...] = ()
    resource_hooks: bool = False
    # Called with the rendered manifests before validation: ``(manifests) -> (manifests, problems)``. A tree of
    # apps (kubectl_gitops.ops.apptree) sets it to split child apps off a render and to apply an Application's
    # or Kustomization's overrides (kustomize images, labels, Flux substitution); None: manifests as rendered.
    post_render: Any = field(default=None, compare=False)
    jsonnet: JsonnetOptions = field(default_factory=JsonnetOptions)  # --jsonnet-* flags (source.jsonnet)


@dataclass(frozen=True)
class TreeOptions:
    """Trees of apps: Argo CD Applications and Flux Kustomizations/HelmReleases as child apps (docs/apps.md)."""

    mode: str = "auto"  # --apps: auto | expand | apply
    mirrors: tuple[tuple[str, str], ...] = ()  # --repo-mirror URL=PATH_OR_URL
    clusters: tuple[tuple[str, str], ...] = ()  # --cluster NAME_OR_URL=CONTEXT
    only: tuple[str, ...] = ()  # --only APP
    app_concurrency: int = 2  # children of one wave synced at once


@dataclass(frozen=True)
class AppOptions:
    """Which app's inventory (ApplySet record) a command uses (see kubectl_gitops.engine.inventory)."""

    name: str | None = None  # --app / KUBECTL_GITOPS_APP; None = derived from the repository and path
    record_namespace: str | None = None  # --record-namespace; None = the context's namespace (or -n)


@dataclass(frozen=True)
class PolicyOptions:
    """Where the cluster's policy is (see kubectl_gitops.engine.policy) and what the person running approved."""

    file: str | None = None  # --policy FILE (CI); wins over the ConfigMap
    namespace: str | None = None  # --policy-namespace / KUBECTL_GITOPS_POLICY_NAMESPACE: the ConfigMap's namespace
    confirm_protected: tuple[str, ...] = ()  # --confirm-protected KIND/NAMESPACE/NAME
    require_signed: bool = False  # --require-signed
    allowed_signers: str | None = None  # --allowed-signers FILE (ssh allowed_signers)
    gpg_home: str | None = None  # --gpg-keyring DIR (a GNUPGHOME holding the allowed OpenPGP keys)

    @property
    def configured(self) -> bool:
        return bool(self.file or self.namespace)


@dataclass(frozen=True)
class OutputOptions:
    format: str = "table"
    color: bool = True  # False: --color=never, --no-color, NO_COLOR
    color_always: bool = False  # --color=always: colours on pipes too (for `less -R`)
    verbose: int = 0


@dataclass
class Settings:
    """Collected by the option callbacks of one command invocation."""

    cluster: ClusterOptions = field(default_factory=ClusterOptions)
    source: SourceOptions = field(default_factory=SourceOptions)
    output: OutputOptions = field(default_factory=OutputOptions)
    app: AppOptions = field(default_factory=AppOptions)
    tree: TreeOptions = field(default_factory=TreeOptions)
    policy: PolicyOptions = field(default_factory=PolicyOptions)


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PLAIN_SECONDS = re.compile(r"^\d+(?:\.\d+)?$")


def parse_duration(text: str, *, flag: str = "duration") -> float:
    """Go durations as kubectl takes them (``time.ParseDuration``): ``30s``, ``5m``, ``1h``, ``250ms``,
    ``1m30s``, ``1h2m3.5s``; plain seconds (``30``) are accepted too. ``0`` means no timeout. Seconds.

    Hand-written: Go's grammar is a dozen lines, and no Python library parses it (``isodate`` and
    ``pytimeparse`` read other grammars and would accept ``1 day``)."""
    raw = text.strip()
    if _PLAIN_SECONDS.match(raw):
        return float(raw)
    total, pos = 0.0, 0
    for m in _DURATION_PART.finditer(raw):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not raw or pos != len(raw):
        raise UsageError(f"invalid value {text!r} for {flag}: use a Go duration, e.g. 30s, 5m, 1m30s, 500ms, "
                         "1h (or plain seconds)")
    return total


# --- the environment the core reads -------------------------------------------------------------------------

HELM_ENV = "KUBECTL_GITOPS_HELM"  # the helm binary (default: helm on PATH)
KUSTOMIZE_ENV = "KUBECTL_GITOPS_KUSTOMIZE"  # the kustomize (or kubectl) binary (default: kustomize, else kubectl)
RENDER_TIMEOUT_ENV = "KUBECTL_GITOPS_RENDER_TIMEOUT"  # seconds per kustomize/helm run; default 300
CACHE_ENV = "KUBECTL_GITOPS_CACHE"  # where remote repositories are cloned (below it: repos/)
GIT_TIMEOUT_ENV = "KUBECTL_GITOPS_GIT_TIMEOUT"  # seconds for clone/fetch; default 300
TRANSPORT_ENV = "KUBECTL_GITOPS_TRANSPORT"  # "kubernetes-client": always use the official client
PLACEHOLDERS_ENV = "KUBECTL_GITOPS_PLACEHOLDERS"  # off/false/0/no: leave <placeholders> unresolved
FAULT_ENV = "KUBECTL_GITOPS_FAULT"  # crash-safety tests: the fault point to die at
DISCOVERY_TTL_ENV = "KUBECTL_GITOPS_DISCOVERY_TTL"  # seconds the discovery cache is trusted; 0: no cache
DEFAULT_DISCOVERY_TTL = 6 * 3600.0  # kubectl's
DEFAULT_RENDER_TIMEOUT = 300.0
DEFAULT_GIT_TIMEOUT = 300.0


def _seconds(text: str | None, default: float) -> float:
    try:
        return float(text or default)
    except ValueError:
        return default


@dataclass(frozen=True)
class Environment:
    """What the core takes from the environment; ``environment()`` reads it (see the module docstring)."""

    helm: str | None = None
    kustomize: str | None = None
    kubectl: str | None = None  # KUBECTL_PATH: set by kubectl for its plugins
    render_timeout: float = DEFAULT_RENDER_TIMEOUT
    cache: str | None = None
    git_timeout: float = DEFAULT_GIT_TIMEOUT
    transport: str | None = None
    placeholders_off: bool = False
    fault: str | None = None
    user: str | None = None  # $USER, else $LOGNAME
    pod: str | None = None  # inside a pod (KUBERNETES_SERVICE_HOST set): $POD_NAME, else $HOSTNAME
    discovery_ttl: float = DEFAULT_DISCOVERY_TTL


def environment(env: Mapping[str, str] | None = None) -> Environment:
    """The core's tunables from ``env`` (default: the process environment, read now)."""
    env = os.environ if env is None else env
    return Environment(
        helm=env.get(HELM_ENV) or None,
        kustomize=env.get(KUSTOMIZE_ENV) or None,
        kubectl=env.get("KUBECTL_PATH") or None,
        render_timeout=_seconds(env.get(RENDER_TIMEOUT_ENV), DEFAULT_RENDER_TIMEOUT),
        cache=env.get(CACHE_ENV) or None,
        git_timeout=_seconds(env.get(GIT_TIMEOUT_ENV), DEFAULT_GIT_TIMEOUT),
        transport=env.get(TRANSPORT_ENV) or None,
        placeholders_off=env.get(PLACEHOLDERS_ENV, "").lower() in ("off", "false", "0", "no"),
        fault=env.get(FAULT_ENV) or None,
        user=env.get("USER") or env.get("LOGNAME") or None,
        pod=(env.get("POD_NAME") or env.get("HOSTNAME") or None) if env.get("KUBERNETES_SERVICE_HOST") else None,
        discovery_ttl=max(0.0, _seconds(env.get(DISCOVERY_TTL_ENV), DEFAULT_DISCOVERY_TTL)),
    )
