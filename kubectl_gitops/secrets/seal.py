"""Offline sealing for bitnami sealed-secrets: a Secret in, a ``SealedSecret`` the controller can unseal out.

Pure crypto (``cryptography``), no cluster access: the controller's certificate is passed in (the CLI
reads it from a file or fetches it through the API server's service proxy).

Each value is sealed on its own, exactly as ``kubeseal`` does, so changing one value changes one line:

    session_key = 32 random bytes
    rsa_ct      = RSA-OAEP(SHA-256, label).encrypt(session_key)
    value       = base64(uint16_be(len(rsa_ct)) ‖ rsa_ct ‖ AES-256-GCM(session_key, 12 zero bytes).seal(plaintext))

A zero nonce is safe because every session key encrypts exactly one value. The OAEP label pins where the
controller may unseal it:

    ==============  ========================  =====================================================
    scope           label                     the Secret may be renamed / moved to another namespace
    ==============  ========================  =====================================================
    strict          ``<namespace>/<name>``    neither (the default)
    namespace-wide  ``<namespace>``           renamed within its namespace
    cluster-wide    ``""``                    both
    ==============  ========================  =====================================================

The controller reads the scope from the annotations ``sealedsecrets.bitnami.com/namespace-wide: "true"``
or ``sealedsecrets.bitnami.com/cluster-wide: "true"``, which are written on the SealedSecret and on its
``spec.template``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import os
from typing import Any

from kubectl_gitops import redact
from kubectl_gitops.errors import SecretsError

SCOPES = ("strict", "namespace-wide", "cluster-wide")
ANN_NAMESPACE_WIDE = "sealedsecrets.bitnami.com/namespace-wide"
ANN_CLUSTER_WIDE = "sealedsecrets.bitnami.com/cluster-wide"
SESSION_KEY_BYTES = 32
NONCE = bytes(12)

# Copies of the whole object (values included) that tools keep in annotations: never carried over.
_LEAKY_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",
                      "kubecfg.ksonnet.io/last-applied-configuration")
_SERVER_FIELDS = ("uid", "resourceVersion", "selfLink", "generation", "creationTimestamp", "deletionTimestamp",
                  "deletionGracePeriodSeconds", "managedFields", "ownerReferences")


def load_certificate(cert_pem: bytes, *, now: dt.datetime | None = None) -> Any:
    """The RSA public key of the first certificate in ``cert_pem``. Refuses an expired certificate like
    kubeseal does (the controller rotates keys; an old certificate means a stale copy)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        certs = x509.load_pem_x509_certificates(cert_pem)
    except ValueError as err:
        raise SecretsError("the sealed-secrets certificate is not a PEM certificate",
                           hint="fetch it with `kubeseal --fetch-cert`, or let `secrets seal` fetch it "
                                "(--controller-namespace/--controller-name)") from err
    cert = certs[0]
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SecretsError(f"the sealed-secrets certificate holds a {type(key).__name__}, not an RSA key")
    now = now or dt.datetime.now(dt.timezone.utc)
    not_after = getattr(cert, "not_valid_after_utc", None)  # cryptography >= 42
    if not_after is None:
        not_after = cert.not_valid_after.replace(tzinfo=dt.timezone.utc)
    if now > not_after:
        raise SecretsError(f"the sealed-secrets certificate expired on {not_after:%Y-%m-%d}",
                           hint="fetch the controller's current certificate")
    return key


def scope_of(secret_obj: dict[str, Any]) -> str:
    """The scope a Secret asks for through its annotations (cluster-wide wins), else ``strict``."""
    ann = (secret_obj.get("metadata") or {}).get("annotations") or {}
    if ann.get(ANN_CLUSTER_WIDE) == "true":
        return "cluster-wide"
    if ann.get(ANN_NAMESPACE_WIDE) == "true":
        return "namespace-wide"
    return "strict"


def encryption_label(namespace: str, name: str, scope: str) -> bytes:
    if scope == "cluster-wide":
        return b""
    if scope == "namespace-wide":
        return namespace.encode()
    if scope == "strict":
        return f"{namespace}/{name}".encode()
    raise SecretsError(f"unknown sealing scope {scope!r}: use one of {', '.join(SCOPES)}")


def hybrid_encrypt(public_key: Any, plaintext: bytes, label: bytes) -> bytes:
    """``uint16_be(len(rsa_ct)) ‖ rsa_ct ‖ AES-256-GCM(session key, zero nonce, plaintext)`` (kubeseal's format)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    session_key = os.urandom(SESSION_KEY_BYTES)
    rsa_ct = public_key.encrypt(session_key, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                                          algorithm=hashes.SHA256(), label=label))
    return len(rsa_ct).to_bytes(2, "big") + rsa_ct + AESGCM(session_key).encrypt(NONCE, plaintext, None)


def secret_values(secret_obj: dict[str, Any]) -> dict[str, bytes]:
    """The plaintext bytes of every key: ``data`` decoded from base64, then ``stringData`` on top (as the API
    server merges them)."""
    where = _describe(secret_obj)
    out: dict[str, bytes] = {}
    for key, value in (secret_obj.get("data") or {}).items():
        if value is None:
            continue
        try:
            out[str(key)] = base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError) as err:
            raise SecretsError(f"{where}: data.{key} is not valid base64",
                               hint="put plain text under stringData, or base64-encode it under data") from err
    for key, value in (secret_obj.get("stringData") or {}).items():
        if value is None:
            continue
        out[str(key)] = str(value).encode()
    for value_bytes in out.values():
        redact.register(value_bytes)
    return out


def seal_secret(secret_obj: dict[str, Any], cert_pem: bytes, scope: str | None = None, *,
                allow_empty: bool = False) -> dict[str, Any]:
    """A ``bitnami.com/v1alpha1`` SealedSecret for ``secret_obj``.

    ``scope`` is ``strict``, ``namespace-wide`` or ``cluster-wide``; ``None`` takes the scope from the
    Secret's own sealedsecrets annotations (``strict`` without them), as kubeseal does.

    >>> sealed = seal_secret({"apiVersion": "v1", "kind": "Secret",
    ...                       "metadata": {"name": "db", "namespace": "shop"},
    ...                       "stringData": {"password": "hunter2"}}, cert_pem)   # doctest: +SKIP
    >>> sealed["spec"]["encryptedData"]["password"]                               # doctest: +SKIP
    'AgB4...'
    """
    where = _describe(secret_obj)
    if secret_obj.get("kind") != "Secret" or secret_obj.get("apiVersion") != "v1":
        raise SecretsError(f"{where}: only v1 Secret objects can be sealed")
    if scope is not None and scope not in SCOPES:
        raise SecretsError(f"unknown sealing scope {scope!r}: use one of {', '.join(SCOPES)}")
    scope = scope or scope_of(secret_obj)
    meta = copy.deepcopy(secret_obj.get("metadata") or {})
    name = str(meta.get("name") or "")
    namespace = str(meta.get("namespace") or "")
    if not name:
        raise SecretsError(f"{where}: metadata.name is missing (generateName cannot be sealed)")
    if scope != "cluster-wide" and not namespace:
        raise SecretsError(f"{where}: the Secret must declare a namespace for the {scope} scope",
                           hint="set metadata.namespace, pass -n NAMESPACE, or use --scope cluster-wide")
    values = secret_values(secret_obj)
    if not values and not allow_empty:
        raise SecretsError(f"{where}: the Secret has no data to seal", hint="use --allow-empty-data if intended")

    public_key = load_certificate(cert_pem)
    label = encryption_label(namespace, name, scope)
    encrypted = {key: base64.b64encode(hybrid_encrypt(public_key, values[key], label)).decode()
                 for key in sorted(values)}

    for f in _SERVER_FIELDS:
        meta.pop(f, None)
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in _LEAKY_ANNOTATIONS}
    annotations = _scope_annotations(annotations, scope)
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)

    template: dict[str, Any] = {"metadata": meta}
    if secret_obj.get("type"):
        template["type"] = secret_obj["type"]
    if secret_obj.get("immutable") is not None:
        template["immutable"] = secret_obj["immutable"]

    sealed_meta: dict[str, Any] = {"name": name}
    if namespace:
        sealed_meta["namespace"] = namespace
    sealed_annotations = _scope_annotations({}, scope)
    if sealed_annotations:
        sealed_meta["annotations"] = sealed_annotations
    return {
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": sealed_meta,
        "spec": {"encryptedData": encrypted, "template": template},
    }


def _scope_annotations(annotations: dict[str, Any], scope: str) -> dict[str, Any]:
    out = {k: v for k, v in annotations.items() if k not in (ANN_NAMESPACE_WIDE, ANN_CLUSTER_WIDE)}
    if scope == "namespace-wide":
        out[ANN_NAMESPACE_WIDE] = "true"
    elif scope == "cluster-wide":
        out[ANN_CLUSTER_WIDE] = "true"
    return out


def _describe(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    name = meta.get("name") or "<unnamed>"
    return f"{obj.get('kind') or 'object'} {meta['namespace'] + '/' if meta.get('namespace') else ''}{name}"
