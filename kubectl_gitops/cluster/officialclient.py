"""The official Kubernetes client as a transport, for kubeconfigs our own reader does not implement.

``kubeconfig.resolve`` marks an endpoint ``unsupported`` when it needs what only the official client's loader
knows (``auth-provider`` plugins, ``proxy-url`` or ``HTTPS_PROXY``, basic auth);
``KUBECTL_GITOPS_TRANSPORT=kubernetes-client`` forces this path for every connection. The client is imported here
only, and only then.

Environment: like ``kubeconfig``, this module reads ``KUBECONFIG`` and ``KUBERNETES_SERVICE_HOST`` itself, to
load the kubeconfig by kubectl's rules (see kubectl_gitops.settings).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from kubectl_gitops.cluster.transport import Response, TransportError
from kubectl_gitops.errors import ClusterError, InvalidInputError
from kubectl_gitops.settings import ClusterOptions

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


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


class OfficialTransport:
    """``HttpTransport``'s interface over ``ApiClient.call_api`` (urllib3 underneath)."""

    def __init__(self, opts: ClusterOptions, *, user_agent: str, pool_size: int):
        client, _ = kubernetes_client()
        cfg, _, _ = _load_configuration(opts)
        cfg.connection_pool_maxsize = max(pool_size, 4)
        cfg.retries = False  # the cluster layer retries, with jitter, and only what is transient
        self._api = client.ApiClient(cfg)
        self._api.user_agent = user_agent
        self.server: str = cfg.host

    def send(self, method: str, path: str, *, query: list[tuple[str, Any]], headers: dict[str, str],
             body: Any, timeout: float) -> Response:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError as Urllib3Error

        try:
            resp = self._api.call_api(
                path, method, query_params=query, header_params=headers, body=body,
                auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True,
                _request_timeout=timeout,
            )
        except ApiException as e:
            data = e.body if isinstance(e.body, bytes) else str(e.body or "").encode()
            return Response(int(e.status or 0), str(e.reason or ""), data, (e.headers or {}).get("Retry-After"))
        except (Urllib3Error, OSError) as e:
            reason = "timeout" if "timed out" in str(e).lower() else "connection"
            # urllib3 says when nothing was sent (no connection made); anything else may have reached the server
            sent = type(e).__name__ not in ("NewConnectionError", "ConnectTimeoutError", "ConnectionRefusedError")
            raise TransportError(
                f"cannot reach the API server at {self.server} ({type(e).__name__})"
                if not sent else f"{method} {path} failed after it was sent to {self.server} ({type(e).__name__})",
                reason=reason, sent=sent,
                hint="is the cluster running? check --context/--kubeconfig, or raise --request-timeout",
            ) from e
        return Response(int(resp.status), str(resp.reason or ""), bytes(resp.data or b""))

    def close(self) -> None:
        self._api.close()
