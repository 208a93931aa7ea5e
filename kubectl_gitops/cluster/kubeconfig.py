"""Which API server to talk to and as whom, read the way kubectl reads it. Pure: files in, ``Endpoint`` out.

- ``--kubeconfig``, else ``KUBECONFIG`` (several files joined by ``os.pathsep``; missing ones skipped), else
  ``~/.kube/config``; with none of them and ``KUBERNETES_SERVICE_HOST`` set, the pod's service account.
- Several files merge like kubectl's: the first file to set ``current-context`` wins, and the first cluster,
  user or context of a given name wins.
- ``--context`` picks a context, else ``current-context``. ``-n`` overrides the context's namespace, which
  defaults to ``default``.
- Relative file paths (certificate-authority, client-certificate, client-key, tokenFile, and an exec command
  containing a ``/``) are relative to the file that names them.

What this reader implements — server, CA (file or data), ``insecure-skip-tls-verify``, ``tls-server-name``,
client certificates (file or data), ``token``, ``tokenFile``, exec credential plugins and impersonation
(``as``, ``as-uid``, ``as-groups``, ``as-user-extra``) — is what ``Endpoint`` carries. Anything else
(``auth-provider`` plugins such as gcp/azure/oidc, which kubectl itself replaced by exec plugins; ``proxy-url``
or an ``HTTPS_PROXY`` that applies to the server; basic auth) sets ``Endpoint.unsupported`` and the cluster layer
hands the connection to the official client, which knows them (impersonation together with one of them is
refused: the official client would silently drop it).

Environment: this module reads ``KUBECONFIG``, ``KUBERNETES_SERVICE_HOST``/``_PORT`` and ``HTTPS_PROXY``/
``NO_PROXY`` itself (an exception to "only settings reads the environment"): they are kubectl's rules, which
this reader implements, not our options (see kubectl_gitops.settings).
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field
from typing import Any

from kubectl_gitops.errors import ClusterError, InvalidInputError

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
DEFAULT_PATH = "~/.kube/config"


@dataclass(frozen=True)
class Endpoint:
    """One resolved connection. Secret material (token, key) is kept out of ``repr``."""

    server: str
    context: str
    namespace: str
    ca_pem: bytes | None = field(default=None, repr=False)
    insecure: bool = False
    tls_server_name: str | None = None
    cert_pem: bytes | None = field(default=None, repr=False)
    key_pem: bytes | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    token_file: str | None = None
    exec: dict[str, Any] | None = field(default=None, repr=False)  # the user's exec stanza, paths resolved
    exec_cluster: dict[str, Any] | None = field(default=None, repr=False)  # for provideClusterInfo
    impersonate: tuple[tuple[str, str], ...] = ()  # Impersonate-* headers from the user's as/as-groups/...
    unsupported: str | None = None  # why the official client must make this connection
    files: tuple[str, ...] = ()  # the kubeconfig files read


def kubeconfig_paths(explicit: str | None) -> tuple[str, list[str]]:
    """(what was asked for, the files of it that exist)."""
    paths = explicit or os.environ.get("KUBECONFIG") or DEFAULT_PATH
    existing = [os.path.expanduser(p) for p in paths.split(os.pathsep)
                if p and os.path.isfile(os.path.expanduser(p))]
    return paths, existing


def in_cluster_wanted(explicit: str | None) -> bool:
    return not explicit and not kubeconfig_paths(None)[1] and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def resolve(kubeconfig: str | None = None, context: str | None = None, namespace: str | None = None) -> Endpoint:
    """The endpoint kubectl would use with these flags. Raises ``InvalidInputError`` for an unusable file."""
    if in_cluster_wanted(kubeconfig):
        return _in_cluster(namespace)
    asked, files = kubeconfig_paths(kubeconfig)
    if not files:
        raise InvalidInputError(
            f"no kubeconfig found at {asked}",
            hint="pass --kubeconfig or set KUBECONFIG (e.g. `eval $(hack/local-cluster env)` for the local cluster)",
        )
    merged = _merge([(f, _read(f)) for f in files])
    where = os.pathsep.join(files)
    name = context or merged["current-context"]
    if not name:
        raise InvalidInputError(f"no current context in {where}",
                                hint="pass --context, or set one with `kubectl config use-context NAME`")
    ctx = merged["contexts"].get(name)
    if ctx is None:
        names = ", ".join(sorted(merged["contexts"])) or "none"
        raise InvalidInputError(f"context {name!r} not found in {where}", hint=f"available contexts: {names}")
    ctx_body, _ = ctx
    cluster_name, user_name = str(ctx_body.get("cluster") or ""), str(ctx_body.get("user") or "")
    if cluster_name not in merged["clusters"]:
        raise InvalidInputError(f"context {name!r} names cluster {cluster_name!r}, which is not in {where}",
                                hint="fix the context, or add the cluster to the kubeconfig")
    cluster, cluster_file = merged["clusters"][cluster_name]
    user, user_file = merged["users"].get(user_name, ({}, cluster_file))
    server = str(cluster.get("server") or "")
    if not server:
        raise InvalidInputError(f"cluster {cluster_name!r} in {cluster_file} has no server",
                                hint="set clusters[].cluster.server")
    unsupported = None
    if user.get("auth-provider"):
        unsupported = f"auth-provider {((user.get('auth-provider') or {}).get('name') or '?')}"
    elif user.get("username") or user.get("password"):
        unsupported = "basic authentication"
    elif cluster.get("proxy-url"):
        unsupported = "proxy-url"
    elif env_proxy(server):
        unsupported = "a proxy from the environment (HTTPS_PROXY)"
    exec_spec = user.get("exec")
    if exec_spec is not None:
        if not isinstance(exec_spec, dict):
            raise InvalidInputError(f"user {user_name!r} in {user_file}: exec is not a mapping",
                                    hint="see `kubectl config view` and fix users[].user.exec")
        exec_spec = dict(exec_spec)
        command = str(exec_spec.get("command") or "")
        if "/" in command:
            exec_spec["command"] = _relative(command, user_file)
    impersonate = _impersonation(user, kubeconfig_user=user_name)
    if impersonate and unsupported:
        raise InvalidInputError(f"user {user_name!r} impersonates (as/as-groups) and needs {unsupported}: "
                                "kubectl-gitops cannot do both", hint="use a kubeconfig user without one of them")
    ns = namespace or str(ctx_body.get("namespace") or "") or "default"
    if cluster.get("insecure-skip-tls-verify") and (cluster.get("certificate-authority")
                                                    or cluster.get("certificate-authority-data")):
        # client-go's TLSConfigFor refuses this pair with exactly this sentence; so do we (a CA that is
        # silently ignored would look like verification to whoever reads the kubeconfig)
        raise InvalidInputError(
            f"cluster {cluster_name!r} in {cluster_file}: specifying a root certificates file with the insecure "
            "flag is not allowed (insecure-skip-tls-verify together with certificate-authority)",
            hint="remove insecure-skip-tls-verify from the cluster entry (keep the CA), as kubectl requires")
    ca = _pem(cluster, "certificate-authority", cluster_file, f"cluster {cluster_name!r}")
    return Endpoint(
        server=server.rstrip("/"), context=name, namespace=ns,
        ca_pem=ca, insecure=bool(cluster.get("insecure-skip-tls-verify")),
        tls_server_name=cluster.get("tls-server-name") or None,
        cert_pem=_pem(user, "client-certificate", user_file, f"user {user_name!r}"),
        key_pem=_pem(user, "client-key", user_file, f"user {user_name!r}"),
        token=str(user["token"]) if user.get("token") else None,
        token_file=_relative(str(user["tokenFile"]), user_file) if user.get("tokenFile") else None,
        exec=exec_spec,
        impersonate=impersonate,
        exec_cluster=_exec_cluster(cluster, server, ca) if exec_spec is not None else None,
        unsupported=unsupported, files=tuple(files),
    )


def env_proxy(server: str) -> str | None:
    """The proxy ``HTTPS_PROXY``/``HTTP_PROXY`` (either case) name for ``server``, unless ``NO_PROXY`` or the
    loopback rule exempts it, as kubectl (Go's ProxyFromEnvironment) decides."""
    import ipaddress
    from urllib.parse import urlsplit

    url = urlsplit(server)
    names = ("HTTPS_PROXY", "https_proxy") if url.scheme == "https" else ("HTTP_PROXY", "http_proxy")
    proxy = next((os.environ[n] for n in names if os.environ.get(n)), None)
    host = (url.hostname or "").lower()
    if not proxy or not host or host == "localhost":
        return None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None and ip.is_loopback:
        return None
    for entry in (os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or "").split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return None
        if ip is not None and "/" in entry:
            try:
                if ip in ipaddress.ip_network(entry, strict=False):
                    return None
            except ValueError:
                pass
            continue
        name = entry.rsplit(":", 1)[0] if entry.count(":") == 1 else entry.strip("[]")
        if host == name.lstrip(".") or host.endswith("." + name.lstrip(".")):
            return None
    return proxy


def flag_impersonation(user: str | None, groups: tuple[str, ...] = (), uid: str | None = None
                       ) -> tuple[tuple[str, str], ...] | None:
    """kubectl's ``--as``, ``--as-group`` and ``--as-uid`` as headers; None when none is given (the kubeconfig
    user's own impersonation stays). Given, they replace it, as kubectl's flags override the kubeconfig."""
    if not user and not groups and not uid:
        return None
    if not user:
        raise InvalidInputError("--as-group and --as-uid need --as (the user to impersonate)",
                                hint="add --as USER, e.g. --as system:serviceaccount:NAMESPACE:NAME")
    return (("Impersonate-User", user), *((("Impersonate-Uid", uid),) if uid else ()),
            *(("Impersonate-Group", g) for g in groups))


def _impersonation(user: dict[str, Any], *, kubeconfig_user: str) -> tuple[tuple[str, str], ...]:
    """kubectl's ``as``, ``as-uid``, ``as-groups`` and ``as-user-extra`` of a kubeconfig user, as headers."""
    from urllib.parse import quote

    out: list[tuple[str, str]] = []
    if user.get("as"):
        out.append(("Impersonate-User", str(user["as"])))
    if user.get("as-uid"):
        out.append(("Impersonate-Uid", str(user["as-uid"])))
    groups, extra = user.get("as-groups") or [], user.get("as-user-extra") or {}
    if not isinstance(groups, list) or not isinstance(extra, dict):
        raise InvalidInputError(f"user {kubeconfig_user!r}: as-groups must be a list and as-user-extra a mapping "
                                "of lists", hint="fix the kubeconfig user")
    out += [("Impersonate-Group", str(g)) for g in groups]
    for key, values in extra.items():
        for v in values if isinstance(values, list) else [values]:
            out.append((f"Impersonate-Extra-{quote(str(key), safe='')}", str(v)))
    if out and not user.get("as"):
        raise InvalidInputError(f"user {kubeconfig_user!r}: as-groups, as-uid or as-user-extra need `as` (the user "
                                "to impersonate)", hint="add users[].user.as to the kubeconfig")
    return tuple(out)


def _exec_cluster(cluster: dict[str, Any], server: str, ca: bytes | None) -> dict[str, Any]:
    """The ``spec.cluster`` an exec plugin gets with ``provideClusterInfo: true``."""
    out: dict[str, Any] = {"server": server}
    if cluster.get("tls-server-name"):
        out["tls-server-name"] = cluster["tls-server-name"]
    if cluster.get("insecure-skip-tls-verify"):
        out["insecure-skip-tls-verify"] = True
    if ca:
        out["certificate-authority-data"] = base64.b64encode(ca).decode()
    for ext in cluster.get("extensions") or []:
        if isinstance(ext, dict) and ext.get("name") == "client.authentication.k8s.io/exec":
            out["config"] = ext.get("extension")
    return out


def _in_cluster(namespace: str | None) -> Endpoint:
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST", ""), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    token_file = os.path.join(SA_DIR, "token")
    try:
        with open(os.path.join(SA_DIR, "ca.crt"), "rb") as f:
            ca = f.read()
    except OSError as e:
        raise ClusterError(f"in-cluster configuration failed: cannot read {SA_DIR}/ca.crt ({e.strerror})",
                           hint="mount the service account token, or pass --kubeconfig") from e
    if not os.path.isfile(token_file):
        raise ClusterError(f"in-cluster configuration failed: {token_file} is missing",
                           hint="mount the service account token, or pass --kubeconfig")
    ns = namespace
    if not ns:
        try:
            with open(os.path.join(SA_DIR, "namespace"), encoding="utf-8") as f:
                ns = f.read().strip()
        except OSError:
            ns = ""
    host = f"[{host}]" if ":" in host else host
    return Endpoint(server=f"https://{host}:{port}", context="in-cluster", namespace=ns or "default",
                    ca_pem=ca, token_file=token_file)


def _read(path: str) -> dict[str, Any]:
    from kubectl_gitops.untrusted.yamldocs import load

    try:
        with open(path, encoding="utf-8") as f:
            data = load(f.read())
    except OSError as e:
        raise InvalidInputError(f"cannot read kubeconfig {path}: {e.strerror}",
                                hint="check the file, or choose another with --kubeconfig") from e
    except Exception as e:  # yaml.YAMLError and decoding errors: say where, never echo the content (its
        # credentials), hence also `from None`: the cause's message quotes the content
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        raise InvalidInputError(f"cannot use kubeconfig {where}: not valid YAML",
                                hint="check the file, or choose another with --kubeconfig/--context") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInputError(f"cannot use kubeconfig {path}: not a kubeconfig (expected a mapping)",
                                hint="check the file, or choose another with --kubeconfig")
    return data


def _merge(docs: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """kubectl's merge: first current-context wins; first entry of each name wins."""
    out: dict[str, Any] = {"current-context": "", "clusters": {}, "users": {}, "contexts": {}}
    for path, doc in docs:
        if not out["current-context"] and doc.get("current-context"):
            out["current-context"] = str(doc["current-context"])
        for section, body_key in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
            for entry in doc.get(section) or []:
                if not isinstance(entry, dict) or not entry.get("name"):
                    continue
                body = entry.get(body_key) or {}
                if not isinstance(body, dict):
                    raise InvalidInputError(f"cannot use kubeconfig {path}: {section} entry {entry['name']!r} "
                                            f"has no {body_key} mapping", hint="fix the kubeconfig")
                out[section].setdefault(str(entry["name"]), (body, path))
    return out


def _relative(path: str, to_file: str) -> str:
    path = os.path.expanduser(path)
    if os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(to_file)), path))


def _pem(section: dict[str, Any], key: str, from_file: str, what: str) -> bytes | None:
    """``key-data`` (base64) or the file ``key`` names, as bytes; None when neither is set."""
    data = section.get(f"{key}-data")
    if data:
        try:
            return base64.b64decode(str(data), validate=False)
        except (binascii.Error, ValueError) as err:
            raise InvalidInputError(f"cannot use kubeconfig {from_file}: {what} {key}-data is not base64",
                                    hint="fix the kubeconfig") from err
    path = section.get(key)
    if path:
        full = _relative(str(path), from_file)
        try:
            with open(full, "rb") as f:
                return f.read()
        except OSError as e:
            raise InvalidInputError(f"cannot use kubeconfig {from_file}: {what} {key} {full}: {e.strerror}",
                                    hint="fix the path in the kubeconfig") from e
    return None
