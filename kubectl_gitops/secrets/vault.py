"""A tiny read-only client for the Vault / OpenBao KV secrets engine (v1 and v2), the ``SecretSource`` of
argocd-vault-plugin placeholders.

Why not ``hvac``: we need one GET with a token header; the standard library does that, keeps the
install small and lets every call carry an explicit timeout.

Paths are API paths, exactly as argocd-vault-plugin uses them: for a KV v2 mount the path contains
``/data/`` (``secret/data/app``), for KV v1 it does not (``kv/app``). KV v2 answers ``.data.data``
(``?version=N`` pins a version), KV v1 answers ``.data``.

Configuration, like the ``vault``/``bao`` CLIs and AVP: ``VAULT_ADDR`` (or ``BAO_ADDR``), the token from
``VAULT_TOKEN`` (or ``BAO_TOKEN``) or the file ``~/.vault-token`` that ``vault login``/``bao login``
write, ``VAULT_NAMESPACE``, ``VAULT_CACERT``, ``VAULT_SKIP_VERIFY``, ``VAULT_CLIENT_TIMEOUT`` (default 10s),
``AVP_KV_VERSION`` (default 2;
the ``avp.kubernetes.io/kv-version`` annotation wins). The token is registered with ``redact`` and never
appears in a message or ``repr``. ``VaultKV.from_env`` reads these variables itself (an exception to
"only settings reads the environment", see kubectl_gitops.settings): they are the Vault CLI's rules, and a
user who has ``vault`` working expects them to mean the same here.

Which paths a placeholder may read (the repository is untrusted input; see docs/security.md). A path
written in a repository is checked twice before it is sent with the user's token:

1. Lexically, with no request (``vaultpaths.path_problem``; ``check_placeholder_paths`` reports every bad path of
   every object at once): no empty, ``.`` or ``..`` segment (so no ``//``, no leading or trailing ``/``), no
   ``%`` (percent-encoding), backslash, ``?``, ``#``, whitespace other than a space, or control character.
   With allowed prefixes (``--vault-allow-prefix``, ``KUBECTL_GITOPS_VAULT_ALLOW``) the path must be one
   of them or below one, segment by segment, and that is all: prefixes the user names are trusted. Without
   them the first segment may not be a system, auth or well-known non-KV mount (``DENIED_MOUNTS``:
   ``sys``, ``auth``, ``identity``, ``cubbyhole``, ``transit``, ``pki``, ``database``, ...).
2. Without allowed prefixes, by asking the server what the path is mounted on before reading it
   (``GET sys/internal/ui/mounts/<path>``, the preflight the ``vault kv`` CLI makes; any token with access
   to the mount may call it): only ``kv`` (or its old name ``generic``) mounts are read. This catches
   secrets engines mounted under custom names (``my-db/creds/admin`` would create credentials). One
   request per mount, cached.

We cannot know a mount's type without asking, so the deny-list alone would let ``kv-version: "1"`` read
any custom-named engine; the preflight closes that, and the deny-list keeps the obvious attacks at zero
requests.
"""

from __future__ import annotations

import json
import os
import random
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from kubectl_gitops import redact
from kubectl_gitops.errors import ExitCode, SecretsError, UsageError
from kubectl_gitops.secrets.placeholders import (
    SecretNotFound,
)
from kubectl_gitops.secrets.vaultpaths import KV_TYPES, PathRefused, normalise_allow, path_problem
from kubectl_gitops.settings import parse_duration

DEFAULT_TIMEOUT = 10.0
TRANSIENT_STATUS = frozenset({429, 500, 502, 504})  # 503 is a sealed or standby server: not worth waiting for
MAX_ATTEMPTS = 3


class VaultError(SecretsError):
    """Vault/OpenBao cannot be used at all (unreachable, no or rejected token, server error). Exit code 5,
    like an unreachable cluster: nothing in the repository is wrong."""

    exit_code = ExitCode.CLUSTER_ERROR


@dataclass
class VaultKV:
    """Reads KV secrets; caches each (path, version, kv version) for the life of the object. Thread-safe."""

    addr: str
    token: str = field(repr=False)
    namespace: str | None = None
    kv_version: int = 2
    timeout: float = DEFAULT_TIMEOUT
    ca_file: str | None = None
    verify: bool = True
    allow: tuple[str, ...] = ()  # allowed path prefixes (empty: the default rule, KV mounts only)
    requests: int = 0  # HTTP requests sent, for tests and -v output

    def __post_init__(self) -> None:
        redact.register(self.token)
        self.allow = normalise_allow(self.allow)
        self.addr = self.addr.rstrip("/")
        if urlsplit(self.addr).scheme not in ("http", "https"):
            raise VaultError(f"Vault address {self.addr!r} is not an http(s) URL",
                             hint="set VAULT_ADDR, e.g. https://vault.example.com:8200")
        self._cache: dict[tuple[str, str | None, int], dict[str, Any] | SecretNotFound] = {}
        self._lock = threading.Lock()
        self._token_checked = False
        self._kv_mounts: set[str] = set()  # mount paths the server said are KV ("secret/")
        self._mount_answers: dict[str, SecretNotFound | None] = {}  # preflight result by secret path

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, home: str | Path | None = None,
                 timeout: float = DEFAULT_TIMEOUT, allow: Sequence[str] = ()) -> VaultKV:
        """Configure from the environment the way the vault/bao CLIs do (see the module docstring)."""
        env = os.environ if env is None else env
        addr = env.get("VAULT_ADDR") or env.get("BAO_ADDR")
        if not addr:
            raise VaultError("VAULT_ADDR is not set: placeholders need a Vault or OpenBao server",
                             hint="export VAULT_ADDR=https://vault.example.com:8200 (BAO_ADDR works too)")
        token = env.get("VAULT_TOKEN") or env.get("BAO_TOKEN")
        if not token:
            token_file = Path(home if home is not None else Path.home()) / ".vault-token"
            try:
                token = token_file.read_text().strip()
            except FileNotFoundError:
                token = ""
            except OSError as e:
                raise VaultError(f"cannot read the Vault token file {token_file}: {e.strerror}") from e
        if not token:
            raise VaultError("no Vault token: VAULT_TOKEN is not set and ~/.vault-token does not exist",
                             hint="run `vault login` (or `bao login`), or export VAULT_TOKEN")
        kv = (env.get("AVP_KV_VERSION") or "2").strip()
        if kv not in ("1", "2"):
            raise VaultError(f"AVP_KV_VERSION={kv!r}: use 1 or 2")
        skip = (env.get("VAULT_SKIP_VERIFY") or "").strip().lower() in ("1", "t", "true", "yes")
        raw_timeout = env.get("VAULT_CLIENT_TIMEOUT") or env.get("BAO_CLIENT_TIMEOUT")
        if raw_timeout:
            try:
                timeout = parse_duration(raw_timeout, flag="VAULT_CLIENT_TIMEOUT") or timeout
            except UsageError as e:
                raise VaultError(e.message) from e
        return cls(addr=addr, token=token, namespace=env.get("VAULT_NAMESPACE") or env.get("BAO_NAMESPACE"),
                   kv_version=int(kv), timeout=timeout, ca_file=env.get("VAULT_CACERT") or env.get("BAO_CACERT"),
                   verify=not skip, allow=tuple(allow))

    # -- SecretSource -----------------------------------------------------------------------------------
    def read(self, path: str, key: str, version: str | None, *, kv_version: int | None = None) -> Any | None:
        return self.read_secret(path, version, kv_version=kv_version).get(key)

    def read_secret(self, path: str, version: str | None = None, *, kv_version: int | None = None) -> dict[str, Any]:
        """All key/value pairs of the secret at ``path``. Raises ``SecretNotFound`` (the secret, or that
        version, does not exist, or this token may not read it) or ``VaultError``."""
        problem = path_problem(path, self.allow)
        if problem:
            raise PathRefused(f"refused Vault path {path!r}: {problem}")
        kv = kv_version or self.kv_version
        if kv == 1:
            version = None  # KV v1 has no versions (AVP ignores the version there too)
        if not self.allow:
            self._require_kv_mount(path)
        cache_key = (path, version, kv)
        with self._lock:
            hit = self._cache.get(cache_key)
        if hit is None:
            try:
                hit = self._fetch(cache_key[0], version, kv)
            except SecretNotFound as e:
                hit = e
            with self._lock:
                self._cache[cache_key] = hit
        if isinstance(hit, SecretNotFound):
            raise SecretNotFound(hit.message)
        return hit

    # -- HTTP -------------------------------------------------------------------------------------------
    def _fetch(self, path: str, version: str | None, kv: int) -> dict[str, Any]:
        if version is not None and not version.isdigit():
            raise SecretNotFound(f"version {version!r} is not a number (KV v2 versions are 1, 2, ...)")
        status, body = self._get(path, {"version": version} if version else None)
        pinned = f" version {version}" if version else ""
        if status == 404:
            data = (body.get("data") or {}) if isinstance(body, dict) else {}
            meta = data.get("metadata") if isinstance(data, dict) else None
            if isinstance(meta, dict) and meta.get("destroyed"):
                raise SecretNotFound(f"secret {path}{pinned} was destroyed")
            if isinstance(meta, dict) and meta.get("deletion_time"):
                raise SecretNotFound(f"secret {path}{pinned} was deleted")
            hint = ""
            if kv == 2 and "/data/" not in f"/{path}/":
                hint = " (KV v2 paths contain /data/ after the mount, e.g. secret/data/app)"
            raise SecretNotFound(f"no secret at {path}{pinned} (KV v{kv}){hint}")
        if status == 403:
            self._check_token()
            raise SecretNotFound(f"permission denied reading {path}: the token's policies do not allow it")
        if status >= 400 or not isinstance(body, dict):
            raise VaultError(f"Vault answered {status} reading {path}: {_errors(body)}",
                             hint="check the server's state (`bao status`) and VAULT_ADDR")
        data = body.get("data")
        if kv == 1:
            if not isinstance(data, dict):
                raise SecretNotFound(f"the answer for {path} has no data (is it a KV mount?)")
            return data
        inner = data.get("data") if isinstance(data, dict) else None
        if not isinstance(data, dict) or "data" not in data:
            raise SecretNotFound(f"the answer for {path} is not a KV v2 secret: for a KV v1 mount set "
                                 "avp.kubernetes.io/kv-version: \"1\" (or AVP_KV_VERSION=1)")
        if inner is None:
            raise SecretNotFound(f"secret {path}{pinned} has no data (was this version deleted?)")
        if not isinstance(inner, dict):
            raise SecretNotFound(f"the answer for {path} is not a key/value secret")
        return inner

    def _require_kv_mount(self, path: str) -> None:
        """Ask the server what ``path`` is mounted on (once per mount); raise ``PathRefused`` unless it is a
        KV secrets engine."""
        with self._lock:
            if any(path.startswith(m) for m in self._kv_mounts):
                return
            if path in self._mount_answers:
                known = self._mount_answers[path]
                if known is None:
                    return
                raise type(known)(known.message)
        answer: SecretNotFound | None = None
        status, body = self._get(f"sys/internal/ui/mounts/{path}", None)
        data = body.get("data") if isinstance(body, dict) else None
        if status == 403:
            self._check_token()
            answer = SecretNotFound(f"permission denied reading {path}: the token's policies do not allow it")
        elif status == 404:
            answer = PathRefused(f"refused Vault path {path!r}: the server does not say which secrets engine "
                                 "it is mounted on (sys/internal/ui/mounts), so it cannot be shown to be KV")
        elif status >= 400 or not isinstance(data, dict):
            raise VaultError(f"Vault answered {status} for the mount of {path}: {_errors(body)}",
                             hint="check the server's state (`bao status`) and VAULT_ADDR")
        else:
            kind, mount = str(data.get("type") or "?"), str(data.get("path") or "")
            if kind not in KV_TYPES:
                answer = PathRefused(f"refused Vault path {path!r}: it is on a {kind!r} mount, not a KV secrets "
                                     "engine (placeholders read KV secrets only)")
            elif mount and path.startswith(mount.rstrip("/") + "/"):
                with self._lock:
                    self._kv_mounts.add(mount.rstrip("/") + "/")
        with self._lock:
            self._mount_answers[path] = answer
        if answer is not None:
            raise answer

    def _check_token(self) -> None:
        """A 403 means either a policy or a dead token; tell the two apart once, with lookup-self."""
        with self._lock:
            if self._token_checked:
                return
            self._token_checked = True
        status, _ = self._get("auth/token/lookup-self", None)
        if status == 403:
            raise VaultError(f"Vault at {self.addr} rejected the token (expired, revoked or mistyped)",
                             hint="log in again (`vault login` / `bao login`) or export a valid VAULT_TOKEN")

    def _get(self, path: str, query: dict[str, str] | None) -> tuple[int, Any]:
        url = f"{self.addr}/v1/{quote(path, safe='/')}"
        if query:
            url += "?" + urlencode(query)
        headers = {"X-Vault-Token": self.token, "X-Vault-Request": "true", "Accept": "application/json"}
        if self.namespace:
            headers["X-Vault-Namespace"] = self.namespace
        attempt = 0
        while True:
            attempt += 1
            try:
                status, raw = self._send(url, headers)
            except _Transient as e:
                if attempt >= MAX_ATTEMPTS:
                    raise VaultError(f"cannot reach Vault at {self.addr}: {e}",
                                     hint="is the server running and VAULT_ADDR right?") from e
                time.sleep(random.uniform(0, 0.2 * 2 ** attempt))
                continue
            if status in TRANSIENT_STATUS and attempt < MAX_ATTEMPTS:
                time.sleep(random.uniform(0, 0.2 * 2 ** attempt))
                continue
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                body = {}
            return status, body

    def _send(self, url: str, headers: dict[str, str]) -> tuple[int, bytes]:
        req = urllib.request.Request(url, headers=headers, method="GET")
        context = None
        if url.startswith("https:"):
            context = ssl.create_default_context(cafile=self.ca_file)
            if not self.verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        with self._lock:
            self.requests += 1
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=context) as resp:
                return int(resp.status), resp.read()
        except urllib.error.HTTPError as e:
            try:
                raw = e.read()
            except OSError:
                raw = b""
            return int(e.code), raw
        except urllib.error.URLError as e:
            reason = e.reason
            if isinstance(reason, ssl.SSLError):
                raise VaultError(f"TLS error talking to Vault at {self.addr}: {reason.reason or reason}",
                                 hint="set VAULT_CACERT to the server's CA file") from e
            if isinstance(reason, TimeoutError):
                raise VaultError(f"Vault at {self.addr} did not answer within {self.timeout:g}s",
                                 hint="is the server up? a slow network needs a longer timeout") from e
            raise _Transient(str(getattr(reason, "strerror", None) or reason)) from e
        except TimeoutError as err:
            raise VaultError(f"Vault at {self.addr} did not answer within {self.timeout:g}s",
                             hint="is the server up? a slow network needs a longer timeout") from err
        except (ConnectionError, OSError) as e:
            raise _Transient(e.strerror or type(e).__name__) from e


class _Transient(Exception):
    pass


def _errors(body: Any) -> str:
    """Vault's own error sentences (they never contain secret values)."""
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
        return "; ".join(str(e).strip() for e in body["errors"])[:500]
    return "no details"
