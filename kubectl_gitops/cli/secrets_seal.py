"""`kubectl gitops secrets seal`: Secret manifests in, sealed-secrets ``SealedSecret`` manifests out, offline.

Mounted by the ``secrets`` group as ``command``. The sealing itself is ``kubectl_gitops.secrets.seal``;
this module reads the input, finds the controller's certificate (a file, or the controller's
``/v1/cert.pem`` through the API server's service proxy, as ``kubeseal`` does) and prints the result.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from kubectl_gitops.cli.base import handle_errors, printer
from kubectl_gitops.cli.options import cluster_options, common_options, get_settings, output_option
from kubectl_gitops.errors import ClusterError, InvalidInputError, SecretsError
from kubectl_gitops.settings import ClusterOptions

DEFAULT_CONTROLLER_NAMESPACE = "kube-system"
DEFAULT_CONTROLLER_NAME = "sealed-secrets-controller"


@click.command("seal", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.argument("file", metavar="FILE", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--cert", "cert_path", metavar="PATH", type=click.Path(dir_okay=False, exists=True),
              help="The controller's certificate (PEM). Without it, it is fetched from the controller.")
@click.option("--controller-namespace", default=DEFAULT_CONTROLLER_NAMESPACE, show_default=True, metavar="NS",
              help="Namespace of the sealed-secrets controller's Service.")
@click.option("--controller-name", default=DEFAULT_CONTROLLER_NAME, show_default=True, metavar="NAME",
              help="Name of the sealed-secrets controller's Service.")
@click.option("--controller-port", default=None, metavar="PORT",
              help="Port name or number of that Service (default: its first port, like kubeseal).")
@click.option("--scope", type=click.Choice(["strict", "namespace-wide", "cluster-wide"]), default=None,
              help="Where the Secret may be unsealed (default: the Secret's sealedsecrets.bitnami.com "
                   "annotations, else strict).")
@click.option("--allow-empty-data", is_flag=True, help="Seal Secrets without any data too.")
@common_options
@cluster_options
@output_option("yaml", "json", default="yaml")
@handle_errors
def command(file: str, cert_path: str | None, controller_namespace: str, controller_name: str,
            controller_port: str | None, scope: str | None, allow_empty_data: bool) -> int:
    """Seal the Secrets in FILE (or - for stdin) into SealedSecrets, offline.

    \b
    Each value is encrypted on its own for the controller's public key (kubeseal's format),
    so the output is safe to commit and a one-value change is a one-line diff. No plaintext
    is ever printed. With -n, Secrets that name no namespace are sealed for that namespace.

    \b
    Scopes (the OAEP label the controller checks when it unseals):
      strict          the Secret keeps its name and namespace (default)
      namespace-wide  it may be renamed inside its namespace
      cluster-wide    it may be renamed and moved to any namespace

    \b
    Examples:
      kubectl gitops secrets seal db-secret.yaml --cert sealed-secrets.pem > db-sealed.yaml
      kubectl gitops secrets seal db-secret.yaml > db-sealed.yaml        # fetch the cert from kube-system
      kubectl gitops secrets seal - --scope cluster-wide -o json < secret.json
      kubectl gitops secrets seal s.yaml --controller-namespace sealed-secrets --controller-name sealed-secrets
    """
    from kubectl_gitops.secrets.seal import scope_of, seal_secret

    settings = get_settings()
    docs = _read_secrets(file)
    if cert_path:
        with open(cert_path, "rb") as f:
            cert_pem = f.read()
    else:
        cert_pem = fetch_controller_cert(settings.cluster, controller_namespace, controller_name, controller_port)

    sealed: list[dict[str, Any]] = []
    override_ns = settings.cluster.namespace
    for obj in docs:
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = obj["metadata"] = {}
        if override_ns and (scope or scope_of(obj)) != "cluster-wide":
            ns = meta.get("namespace")
            if ns and ns != override_ns:
                raise SecretsError(f"Secret {ns}/{meta.get('name')}: namespace {ns} does not match -n {override_ns}")
            meta["namespace"] = override_ns
        sealed.append(seal_secret(obj, cert_pem, scope, allow_empty=allow_empty_data))

    p = printer()
    if settings.output.format == "json":
        p.json(sealed[0] if len(sealed) == 1 else {"apiVersion": "v1", "kind": "List", "items": sealed})
    else:
        p.yaml(sealed)
    return 0


def _read_secrets(file: str) -> list[dict[str, Any]]:
    import yaml

    name = "<stdin>" if file == "-" else file
    try:
        if file == "-":
            text = sys.stdin.read()
        else:
            with open(file, encoding="utf-8") as f:
                text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInputError(f"cannot read {name}: {getattr(e, 'strerror', None) or e}") from e
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:  # the message quotes the input, which may be a secret: say where only
        mark = getattr(e, "problem_mark", None)
        at = f":{mark.line + 1}" if mark is not None else ""
        raise InvalidInputError(f"{name}{at}: not valid YAML or JSON") from None  # from None: the cause quotes it
    out: list[dict[str, Any]] = []
    for i, d in enumerate(docs, 1):
        if isinstance(d, dict) and d.get("kind") == "List" and isinstance(d.get("items"), list):
            out.extend(x for x in d["items"] if isinstance(x, dict))
        elif isinstance(d, dict):
            out.append(d)
        else:
            raise InvalidInputError(f"{name}: document {i} is not an object")
    if not out:
        raise InvalidInputError(f"{name}: no Secret found", hint="the input must be one or more v1 Secret manifests")
    for d in out:
        if d.get("kind") != "Secret":
            meta = d.get("metadata") or {}
            raise InvalidInputError(f"{name}: {d.get('kind') or 'an object without kind'} {meta.get('name', '')} "
                                    "is not a Secret; only Secrets can be sealed")
    return out


def fetch_controller_cert(opts: ClusterOptions, namespace: str, name: str, port: str | None) -> bytes:
    """GET the controller's certificate through the API server's service proxy, like ``kubeseal``:
    ``/api/v1/namespaces/<ns>/services/http:<name>:<port>/proxy/v1/cert.pem``."""
    from kubectl_gitops.cluster.client import ApiError, Cluster

    cluster = Cluster.connect(opts, pool_size=1)
    try:
        if port is None:
            try:
                svc = cluster.request("GET", f"/api/v1/namespaces/{namespace}/services/{name}")
            except ApiError as e:
                if e.not_found:
                    raise ClusterError(
                        f"the sealed-secrets controller Service {namespace}/{name} was not found",
                        status=404,
                        hint="pass --controller-namespace/--controller-name, or --cert FILE with the certificate "
                             "(kubeseal --fetch-cert > cert.pem)") from e
                raise
            ports = ((svc or {}).get("spec") or {}).get("ports") or []
            if not ports:
                raise ClusterError(f"the Service {namespace}/{name} has no ports", hint="pass --cert FILE")
            port = str(ports[0].get("name") or ports[0].get("port") or "")
        path = f"/api/v1/namespaces/{namespace}/services/http:{name}:{port}/proxy/v1/cert.pem"
        return _get_raw(cluster, path)
    finally:
        cluster.close()


def _get_raw(cluster: Any, path: str) -> bytes:
    """The PEM through the API server's service proxy, with the usual auth, TLS and timeout."""
    from kubectl_gitops.cluster.client import ApiError

    try:
        data: bytes = cluster.get_raw(path, accept="application/x-pem-file, */*")
    except ApiError as err:
        err.message = f"cannot fetch the sealed-secrets certificate: {err.message}"
        err.hint = err.hint or "is the controller running? or pass --cert FILE"
        raise
    except ClusterError as err:
        err.hint = "is the cluster running? check --context/--kubeconfig, or pass --cert FILE"
        raise
    return data
