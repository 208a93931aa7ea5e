"""Which Vault paths placeholders may read, decided lexically before any request (see ``vault``'s docstring).

No empty, ``.`` or ``..`` segment, no percent-encoding, backslash, ``?``, ``#`` or control character; with allowed
prefixes (``--vault-allow-prefix``, ``KUBECTL_GITOPS_VAULT_ALLOW``) the path must be one of them or below one;
without them the first segment may not be a system, auth or well-known non-KV mount (``DENIED_MOUNTS``).
``check_placeholder_paths`` reports every bad path of every object at once.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
from collections.abc import Iterator, Sequence

from kubectl_gitops.errors import SecretsError, UsageError
from kubectl_gitops.model import Manifest
from kubectl_gitops.secrets.placeholders import (
    ANN_IGNORE,
    ANN_PATH,
    GENERIC,
    INLINE,
    INLINE_BODY,
    SecretNotFound,
    format_path,
    string_leaves,
)

ALLOW_FLAG = "--vault-allow-prefix"
ALLOW_ENV = "KUBECTL_GITOPS_VAULT_ALLOW"
KV_TYPES = frozenset({"kv", "generic"})  # "generic" is KV v1's old name
# Mounts that are never KV secrets: Vault's and OpenBao's built-in ones and the default paths of the
# secrets engines that return or create credentials or keys. Refused without a request (case-insensitive).
DENIED_MOUNTS = frozenset({
    "sys", "auth", "identity", "cubbyhole", "token", "wrapping", "internal",
    "transit", "pki", "totp", "ssh", "database", "aws", "azure", "gcp", "gcpkms", "kubernetes", "ldap",
    "openldap", "ad", "alicloud", "consul", "nomad", "rabbitmq", "terraform", "mongodbatlas", "kmip",
    "transform", "keymgmt",
})
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\t\n\r\v\f\\%?#]")


class PathRefused(SecretNotFound):
    """A placeholder's path that may not be read (listed with the other problems; exit code 3)."""


def normalise_allow(prefixes: Sequence[str]) -> tuple[str, ...]:
    """Allowed prefixes without leading/trailing ``/``. A prefix that is empty or malformed is a usage error
    (an empty prefix would allow every path)."""
    out = []
    for raw in prefixes:
        prefix = str(raw).strip().strip("/")
        problem = _lexical_problem(prefix) if prefix else "it is empty (it would allow every path)"
        if problem:
            raise UsageError(f"{ALLOW_FLAG} {raw!r}: {problem}",
                             hint="name a KV path prefix, e.g. --vault-allow-prefix secret/data/shop")
        out.append(prefix)
    return tuple(dict.fromkeys(out))


def _lexical_problem(path: str) -> str | None:
    if not path:
        return "the path is empty"
    bad = _BAD_CHARS.search(path)
    if bad:
        ch = bad.group(0)
        what = {"%": "percent-encoding ('%')", "\\": "a backslash", "?": "a query ('?')", "#": "a fragment ('#')"}
        return f"it contains {what.get(ch, 'a control or whitespace character')}"
    segments = path.split("/")
    if "" in segments:
        return "it has an empty segment ('//', or a leading or trailing '/')"
    if any(seg in (".", "..") for seg in segments):
        return "it has a '.' or '..' segment"
    return None


def path_problem(path: str, allow: Sequence[str] = ()) -> str | None:
    """Why a placeholder may not read ``path`` (``None``: it may, subject to the server's mount check when
    ``allow`` is empty). Pure: decided without a request. ``allow`` holds normalised prefixes."""
    if not isinstance(path, str):
        return "the path is not text"
    problem = _lexical_problem(path)
    if problem:
        return problem
    if allow:
        if any(path == p or path.startswith(p + "/") for p in allow):
            return None
        return f"it is not under an allowed prefix ({', '.join(allow)})"
    mount = path.split("/", 1)[0]
    if mount.lower() in DENIED_MOUNTS:
        return f"{mount}/ is a system, auth or non-KV mount (placeholders read KV secrets only)"
    return None


def placeholder_paths(m: Manifest) -> Iterator[tuple[str, str, str]]:
    """(field, placeholder, path) for every Vault path resolving ``m`` would read, found the way
    ``placeholders`` finds them (values and base64 Secret data, inline ``<path:...>`` placeholders and the
    ``avp.kubernetes.io/path`` annotation)."""
    obj = m.obj
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if not isinstance(annotations, dict) or str(annotations.get(ANN_IGNORE)) in ("1", "t", "T", "true", "TRUE", "True"):
        return
    generic = ANN_PATH in annotations
    pattern = GENERIC if generic else INLINE
    ann_path = annotations.get(ANN_PATH)
    ann_used = False
    for fpath, text in string_leaves(obj, ()):
        texts = [text]
        if obj.get("kind") == "Secret" and len(fpath) == 2 and fpath[0] == "data":
            with contextlib.suppress(binascii.Error, ValueError):
                texts.append(base64.b64decode(text, validate=True).decode())
        for t in texts:
            for match in pattern.finditer(t):
                placeholder = match.group(0)
                name = placeholder[1:-1].split("|")[0].strip(" ")
                inline = INLINE_BODY.match(name)
                if inline:
                    yield format_path(fpath), placeholder, inline.group(1)
                elif generic:
                    ann_used = True
    if generic and ann_used and ann_path:
        yield f"metadata.annotations[{ANN_PATH!r}]", "", str(ann_path)


def refused_placeholder_paths(manifests: Sequence[Manifest], allow: Sequence[str] = ()) -> list[str]:
    """One line per placeholder path that may not be read (object, file:line, field, path, why)."""
    allow = normalise_allow(allow)
    out = []
    for m in manifests:
        for fld, placeholder, path in placeholder_paths(m):
            problem = path_problem(path, allow)
            if problem:
                what = f"{placeholder}: " if placeholder else ""
                out.append(f"{m.where()} {fld}: {what}path {path!r}: {problem}")
    return list(dict.fromkeys(out))


def check_placeholder_paths(manifests: Sequence[Manifest], allow: Sequence[str] = ()) -> None:
    """Refuse (exit code 3, before any request) when any placeholder would read a path it may not."""
    refused = refused_placeholder_paths(manifests, allow)
    if refused:
        n = len(refused)
        raise SecretsError(
            f"refused {n} Vault path{'s' if n != 1 else ''} in placeholders, nothing was read from Vault",
            details=refused,
            hint=f"placeholders read KV secrets only, under well-formed paths; if these paths are really meant, "
                 f"allow them explicitly with {ALLOW_FLAG} PREFIX (or {ALLOW_ENV}=PREFIX,...)")
