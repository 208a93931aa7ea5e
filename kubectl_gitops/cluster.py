"""The cluster layer: kubeconfig, discovery and raw REST calls. With ``live`` and ``sync`` the only code
that talks to the API server.

Why raw REST instead of the generated model classes: objects stay plain JSON dicts exactly as the server
sends them (no round trip through typed models that drop unknown fields of custom resources), and one
code path serves every kind. The official client still does what it is good at: kubeconfig loading
(``KUBECONFIG`` with several paths merged, exec/auth plugins, in-cluster config) and the HTTP pool.

Every request has a timeout; transient failures (429, 5xx, connection resets) are retried with bounded
exponential backoff and full jitter. Errors become ``ClusterError``/``ApiError`` with the server's own
message. Every write is counted (``Cluster.writes``) so tests and ``--dry-run`` can prove what was written.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from . import FIELD_MANAGER, __version__
from .errors import ClusterError, InvalidInputError
from .model import Obj, split_api_version
from .settings import ClusterOptions

USER_AGENT = f"kubectl-gitops/{__version__}"
DEFAULT_TIMEOUT = 30.0
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
AGGREGATED_DISCOVERY = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class ApiError(ClusterError):
    """The API server answered with an error status. ``causes`` are the Status details (field, message)."""

    def __init__(self, message: str, *, status: int, reason: str | None, causes: list[dict[str, Any]] | None = None):
        super().__init__(message, status=status, reason=reason)
        self.causes = causes or []
        self.request = ""

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: frozenset[str] = frozenset()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_kind(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name, safe='')}"
        return base


@dataclass
class Discovery:
    """What the server serves: (group, version, kind) -> ResourceType, plus each group's preferred version."""

    types: dict[tuple[str, str, str], ResourceType] = field(default_factory=dict)
    preferred: dict[str, str] = field(default_factory=dict)  # group -> version

    def add(self, rt: ResourceType, preferred: bool) -> None:
        self.types[(rt.group, rt.version, rt.kind)] = rt
        if preferred:
            self.preferred.setdefault(rt.group, rt.version)

    def lookup(self, api_version: str, kind: str) -> ResourceType | None:
        group, version = split_api_version(api_version)
        return self.types.get((group, version, kind))

    def for_group_kind(self, group: str, kind: str) -> ResourceType | None:
        """The preferred version of a group/kind, else any served version."""
        pref = self.preferred.get(group)
        if pref and (rt := self.types.get((group, pref, kind))):
            return rt
        for (g, _v, k), rt in self.types.items():
            if g == group and k == kind:
                return rt
        return None

    def scope(self, api_version: str, kind: str) -> bool | None:
        """A ``validate.ScopeResolver``: namespaced?, or None when the server does not serve it."""
        rt = self.lookup(api_version, kind)
        return None if rt is None else rt.namespaced


def kubernetes_client() -> tuple[Any, Any]:
    """The official client's ``(client, config)`` modules, without its ~700 generated API and model classes.

    ``import kubernetes`` imports every generated class (about a third of a second), and we use none of
    them: only the kubeconfig loader, ``Configuration``, ``ApiClient`` and the REST layer. Start-up matters
    (runbook aliases run the CLI many times), so the package is entered with its ``__init__`` modules
    skipped. Anything unexpected (another client version) falls back to the ordinary import.
    """
    if "kubernetes.config" in sys.modules and "kubernetes.client" in sys.modules:
        return sys.modules["kubernetes.client"], sys.modules["kubernetes.config"]
    if not any(name == "kubernetes" or name.startswith("kubernetes.") for name in sys.modules):
        try:
            return _import_client_core()
        except Exception:  # fall back to the full, slow import
            for name in [n for n in sys.modules if n == "kubernetes" or n.startswith("kubernetes.")]:
                del sys.modules[name]
    import kubernetes.client
    import kubernetes.config

    return kubernetes.client, kubernetes.config


def _import_client_core() -> tuple[Any, Any]:
    import importlib
    import importlib.util
    import types

    spec = importlib.util.find_spec("kubernetes")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("kubernetes is not installed")
    root = next(iter(spec.submodule_search_locations))
    pkg = types.ModuleType("kubernetes")
    pkg.__path__ = [root]
    pkg.__spec__ = spec
    client = types.ModuleType("kubernetes.client")
    client.__path__ = [os.path.join(root, "client")]
    models = types.ModuleType("kubernetes.client.models")  # api_client imports it; we never deserialize
    sys.modules.update({"kubernetes": pkg, "kubernetes.client": client, "kubernetes.client.models": models})
    pkg.client, client.models = client, models  # type: ignore[attr-defined]
    configuration = importlib.import_module("kubernetes.client.configuration")
    api_client = importlib.import_module("kubernetes.client.api_client")
    importlib.import_module("kubernetes.client.rest")
    importlib.import_module("kubernetes.client.exceptions")
    client.ApiClient = api_client.ApiClient  # type: ignore[attr-defined]
    client.Configuration = configuration.Configuration  # type: ignore[attr-defined]
    config = importlib.import_module("kubernetes.config")
    pkg.config = config  # type: ignore[attr-defined]
    return client, config


def _load_configuration(opts: ClusterOptions) -> tuple[Any, str, str]:
    """Returns (kubernetes Configuration, default namespace, context name)."""
    client, config = kubernetes_client()
    from kubernetes.config.config_exception import ConfigException

    cfg = client.Configuration()
    paths = opts.kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    existing = [p for p in paths.split(os.pathsep) if p and os.path.exists(os.path.expanduser(p))]
    if not existing and os.environ.get("KUBERNETES_SERVICE_HOST") and not opts.kubeconfig:
        try:
            config.load_incluster_config(client_configuration=cfg)
        except ConfigException as e:
            raise ClusterError(f"in-cluster configuration failed: {e}") from e
        ns = "default"
        try:
            with open(os.path.join(SA_DIR, "namespace"), encoding="utf-8") as f:
                ns = f.read().strip() or "default"
        except OSError:
            pass
        return cfg, opts.namespace or ns, "in-cluster"
    if not existing:
        raise InvalidInputError(
            f"no kubeconfig found at {paths}",
            hint="pass --kubeconfig or set KUBECONFIG (e.g. `eval $(hack/local-cluster env)` for the local cluster)",
        )
    joined = os.pathsep.join(existing)
    try:
        contexts, active = config.list_kube_config_contexts(config_file=joined)
        chosen = active
        if opts.context:
            chosen = next((c for c in contexts if c.get("name") == opts.context), None)
            if chosen is None:
                names = ", ".join(sorted(c.get("name", "") for c in contexts)) or "none"
                raise InvalidInputError(f"context {opts.context!r} not found in {joined}",
                                        hint=f"available contexts: {names}")
        config.load_kube_config(config_file=joined, context=opts.context, client_configuration=cfg,
                                persist_config=False)
    except ConfigException as e:
        raise InvalidInputError(f"cannot use kubeconfig {joined}: {e}",
                                hint="check the file, or choose another with --kubeconfig/--context") from e
    ctx_ns = ((chosen or {}).get("context") or {}).get("namespace") or "default"
    return cfg, opts.namespace or ctx_ns, (chosen or {}).get("name", "")


class Cluster:
    """A connection to one API server. Thread-safe: one instance serves a pool of workers."""

    def __init__(self, api_client: Any, *, namespace: str, context: str, timeout: float):
        self._api = api_client
        self.namespace = namespace
        self.context = context
        self.timeout = timeout
        self.host: str = api_client.configuration.host
        self._discovery: Discovery | None = None
        self._lock = threading.Lock()
        self.writes = 0  # successful write requests sent (dry runs excluded)
        self.dry_runs = 0
        self.requests = 0
        self.max_attempts = 5

    @classmethod
    def connect(cls, opts: ClusterOptions, *, pool_size: int = 16) -> Cluster:
        client, _ = kubernetes_client()
        cfg, namespace, context = _load_configuration(opts)
        cfg.connection_pool_maxsize = max(pool_size, 4)
        cfg.retries = False  # we retry ourselves, with jitter, and only what is transient
        api = client.ApiClient(cfg)
        api.user_agent = USER_AGENT
        return cls(api, namespace=namespace, context=context, timeout=opts.request_timeout or DEFAULT_TIMEOUT)

    # -- raw requests -------------------------------------------------------------------------------
    def request(self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None,
                content_type: str = "application/json", accept: str = "application/json",
                retry_conflicts: bool = False) -> Any:
        """One API call with retries of transient errors; returns the decoded JSON (or None when empty)."""
        headers = {"Accept": accept, "Content-Type": content_type}
        params = [(k, v) for k, v in (query or {}).items() if v is not None]
        write = method in ("POST", "PUT", "PATCH", "DELETE")
        dry = any(k == "dryRun" for k, _ in params)
        attempt = 0
        while True:
            attempt += 1
            try:
                data = self._send(method, path, params, headers, body)
            except ApiError as e:
                retryable = e.status in TRANSIENT_STATUS or (retry_conflicts and e.status == 409)
                if not retryable or attempt >= self.max_attempts:
                    raise
                self._sleep_backoff(attempt, e)
                continue
            except ClusterError as e:  # connection-level: reset, refused, timeout
                if attempt >= self.max_attempts or e.reason == "timeout":
                    raise
                self._sleep_backoff(attempt, e)
                continue
            with self._lock:
                self.requests += 1
                if write and dry:
                    self.dry_runs += 1
                elif write:
                    self.writes += 1
            return data

    def _sleep_backoff(self, attempt: int, err: Exception) -> None:
        delay = min(5.0, 0.2 * 2 ** (attempt - 1))
        time.sleep(random.uniform(0, delay) + (0.05 if isinstance(err, ApiError) and err.status == 429 else 0))

    def get_raw(self, path: str, *, accept: str = "*/*") -> bytes:
        """One GET of a non-JSON body (e.g. a PEM through a service proxy), with the usual errors."""
        data: bytes = self._send("GET", path, [], {"Accept": accept, "Content-Type": "application/json"}, None,
                                 decode=False)
        return data

    def _send(self, method: str, path: str, params: list[tuple[str, Any]], headers: dict[str, str],
              body: Any, *, decode: bool = True) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError as Urllib3Error

        try:
            resp = self._api.call_api(
                path, method, query_params=params, header_params=headers, body=body,
                auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True,
                _request_timeout=self.timeout,
            )
        except ApiException as e:
            raise self._api_error(e, method, path) from None
        except (Urllib3Error, OSError) as e:
            reason = "timeout" if "timed out" in str(e).lower() else "connection"
            raise ClusterError(
                f"cannot reach the API server at {self.host} ({type(e).__name__})",
                reason=reason,
                hint="is the cluster running? check --context/--kubeconfig, or raise --request-timeout",
            ) from None
        raw = resp.data
        if not decode:
            return bytes(raw or b"")
        return json.loads(raw) if raw else None

    def _api_error(self, e: Any, method: str, path: str) -> ApiError:
        status = int(e.status or 0)
        msg, reason = e.reason or "", None
        causes: list[dict[str, Any]] = []
        try:
            st = json.loads(e.body or "{}")
            msg = st.get("message") or msg
            reason = st.get("reason")
            causes = (st.get("details") or {}).get("causes") or []
        except (ValueError, TypeError):
            pass
        hint = None
        if status == 401:
            hint = "your credentials were rejected: refresh them or check the kubeconfig user"
        elif status == 403:
            hint = "you are not allowed to do this: check RBAC for your user (kubectl auth can-i)"
        err = ApiError(f"{msg} ({status})" if msg else f"{method} {path} failed ({status})", status=status,
                       reason=reason, causes=causes)
        err.request = f"{method} {path}"
        err.hint = hint
        return err

    # -- discovery ----------------------------------------------------------------------------------
    @property
    def discovery(self) -> Discovery:
        if self._discovery is None:
            self._discovery = self._discover()
        return self._discovery

    def refresh_discovery(self) -> Discovery:
        self._discovery = None
        return self.discovery

    def _discover(self) -> Discovery:
        d = Discovery()
        for root in ("/api", "/apis"):
            doc = self.request("GET", root, accept=AGGREGATED_DISCOVERY)
            if doc and doc.get("kind") == "APIGroupDiscoveryList":
                self._add_aggregated(d, doc)
            else:
                self._add_legacy(d, root, doc or {})
        return d

    @staticmethod
    def _add_aggregated(d: Discovery, doc: Obj) -> None:
        for grp in doc.get("items") or []:
            group = (grp.get("metadata") or {}).get("name", "")
            for i, ver in enumerate(grp.get("versions") or []):
                for res in ver.get("resources") or []:
                    if "/" in res.get("resource", ""):
                        continue
                    d.add(ResourceType(group, ver["version"], res["responseKind"]["kind"], res["resource"],
                                       res.get("scope") == "Namespaced", frozenset(res.get("verbs") or ())),
                          preferred=(i == 0))

    def _add_legacy(self, d: Discovery, root: str, doc: Obj) -> None:
        if root == "/api":
            gvs = [("", v, i == 0) for i, v in enumerate(doc.get("versions") or [])]
        else:
            gvs = []
            for g in doc.get("groups") or []:
                pref = (g.get("preferredVersion") or {}).get("version")
                gvs += [(g["name"], v["version"], v["version"] == pref) for v in g.get("versions") or []]
        for group, version, preferred in gvs:
            path = f"/api/{version}" if not group else f"/apis/{group}/{version}"
            try:
                rl = self.request("GET", path)
            except ApiError:
                continue  # an unavailable aggregated API must not break discovery of the rest
            for res in rl.get("resources") or []:
                if "/" in res["name"]:
                    continue
                d.add(ResourceType(group, version, res["kind"], res["name"], bool(res.get("namespaced")),
                                   frozenset(res.get("verbs") or ())), preferred)

    # -- typed helpers ------------------------------------------------------------------------------
    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj | None:
        try:
            obj: Obj = self.request("GET", rt.path(namespace, name))
            return obj
        except ApiError as e:
            if e.not_found:
                return None
            raise

    def list(self, rt: ResourceType, namespace: str | None = None, *, label_selector: str | None = None,
             page_size: int = 500) -> Iterator[Obj]:
        """All objects of a type (in one namespace, or all when None), paginated. Items get apiVersion/kind."""
        cont: str | None = None
        while True:
            doc = self.request("GET", rt.path(namespace),
                               query={"labelSelector": label_selector, "limit": page_size, "continue": cont})
            for item in doc.get("items") or []:
                item.setdefault("apiVersion", rt.api_version)
                item.setdefault("kind", rt.kind)
                yield item
            cont = (doc.get("metadata") or {}).get("continue")
            if not cont:
                return

    def apply(self, obj: Obj, rt: ResourceType, *, dry_run: bool = False, force: bool = False,
              field_manager: str = FIELD_MANAGER) -> Obj:
        """Server-side apply (PATCH application/apply-patch+yaml)."""
        meta = obj.get("metadata") or {}
        result: Obj = self.request(
            "PATCH", rt.path(meta.get("namespace"), meta["name"]),
            query={"fieldManager": field_manager, "force": "true" if force else None,
                   "dryRun": "All" if dry_run else None},
            body=obj, content_type="application/apply-patch+yaml",
        )
        return result

    def create(self, obj: Obj, rt: ResourceType, *, dry_run: bool = False,
               field_manager: str = FIELD_MANAGER) -> Obj:
        meta = obj.get("metadata") or {}
        result: Obj = self.request("POST", rt.path(meta.get("namespace")), body=obj,
                                   query={"fieldManager": field_manager, "dryRun": "All" if dry_run else None})
        return result

    def replace(self, obj: Obj, rt: ResourceType, *, dry_run: bool = False,
                field_manager: str = FIELD_MANAGER) -> Obj:
        meta = obj.get("metadata") or {}
        result: Obj = self.request("PUT", rt.path(meta.get("namespace"), meta["name"]), body=obj,
                                   query={"fieldManager": field_manager, "dryRun": "All" if dry_run else None})
        return result

    def delete(self, rt: ResourceType, namespace: str | None, name: str, *, propagation: str = "Foreground",
               dry_run: bool = False) -> bool:
        """Delete; returns False when the object was already gone."""
        try:
            self.request("DELETE", rt.path(namespace, name), query={"dryRun": "All" if dry_run else None},
                         body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation})
            return True
        except ApiError as e:
            if e.not_found:
                return False
            raise

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._api.close()
