"""The ``sops:`` block of a file: which values are encrypted (``Rules``) and for whom (age keys, MAC, lastmodified)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from kubectl_gitops.errors import SecretsError
from kubectl_gitops.secrets import yaml12 as y12
from kubectl_gitops.secrets.gotypes import rfc3339_seconds
from kubectl_gitops.untrusted import saferegex

SOPS_KEY = "sops"
SOPS_VERSION = "3.13.2"  # the sops release whose file format this module writes
DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"


# --- rules ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rules:
    """Which values get encrypted. At most one of the four selectors may be set."""

    unencrypted_suffix: str | None = None
    encrypted_suffix: str | None = None
    unencrypted_regex: str | None = None
    encrypted_regex: str | None = None
    mac_only_encrypted: bool = False

    def __post_init__(self) -> None:
        chosen = [n for n in ("unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex")
                  if getattr(self, n)]
        if len(chosen) > 1:
            raise SecretsError(f"cannot use more than one of {', '.join(chosen)} in the same file or rule")
        for name in ("unencrypted_regex", "encrypted_regex"):
            pattern = getattr(self, name)
            if pattern:
                saferegex.compile(pattern, name, error=SecretsError)  # RE2, as sops (Go) reads it: linear time

    def effective(self) -> Rules:
        """sops' default when no selector is set: ``unencrypted_suffix: _unencrypted``."""
        if any((self.unencrypted_suffix, self.encrypted_suffix, self.unencrypted_regex, self.encrypted_regex)):
            return self
        return replace(self, unencrypted_suffix=DEFAULT_UNENCRYPTED_SUFFIX)

    def should_encrypt(self, path: Iterable[str]) -> bool:
        """sops' ``shouldBeEncrypted``: every key on the path is tested."""
        path = list(path)
        encrypted = True
        if self.unencrypted_suffix and any(p.endswith(self.unencrypted_suffix) for p in path):
            encrypted = False
        if self.encrypted_suffix:
            encrypted = any(p.endswith(self.encrypted_suffix) for p in path)
        if self.unencrypted_regex:
            unencrypted = saferegex.compile(self.unencrypted_regex, "unencrypted_regex", error=SecretsError)
            if any(unencrypted.search(p) for p in path):
                encrypted = False
        if self.encrypted_regex:
            wanted = saferegex.compile(self.encrypted_regex, "encrypted_regex", error=SecretsError)
            encrypted = any(wanted.search(p) for p in path)
        return encrypted

    def as_metadata(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in ("unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        if self.mac_only_encrypted:
            out["mac_only_encrypted"] = True
        return out


# --- metadata ---------------------------------------------------------------------------------

@dataclass
class AgeKey:
    recipient: str
    enc: str = ""


@dataclass
class Metadata:
    rules: Rules
    age: list[AgeKey]
    lastmodified: str
    mac: str
    version: str = SOPS_VERSION
    other_key_types: list[str] = field(default_factory=list)  # kms, pgp, ... we keep but cannot use

    @property
    def recipients(self) -> list[str]:
        return [k.recipient for k in self.age]

    def to_plain(self) -> dict[str, Any]:
        """The ``sops:`` block as plain data, keys sorted like sops writes them."""
        out: dict[str, Any] = {
            "age": [{"enc": k.enc, "recipient": k.recipient} for k in self.age],
            "lastmodified": self.lastmodified,
            "mac": self.mac,
            "version": self.version,
        }
        out.update(self.rules.as_metadata())
        return dict(sorted(out.items()))


def plain_data(obj: Any) -> Any:
    """ruamel/JSON data → plain Python with sops types (for reading the ``sops:`` block)."""
    if isinstance(obj, dict):
        return {str(k): plain_data(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [plain_data(v) for v in obj]
    v = y12.leaf_value(obj) if obj is not None else None
    return None if v is None else v.data


_UNSUPPORTED_META = ("unencrypted_comment_regex", "encrypted_comment_regex")
_OTHER_KEYS = ("kms", "gcp_kms", "azure_kv", "hc_vault", "pgp", "hckms")


def parse_metadata(block: Any, where: str) -> Metadata:
    if not isinstance(block, dict):
        raise SecretsError(f"{where}: the sops entry is not a mapping")
    m = plain_data(block)
    for name in _UNSUPPORTED_META:
        if m.get(name):
            raise SecretsError(f"{where}: sops option {name} is not supported by kubectl-gitops",
                               hint="decrypt and re-encrypt it with the sops binary without that option")
    groups = m.get("key_groups") or []
    if groups and not any(m.get(k) for k in ("age", *_OTHER_KEYS)):
        if len(groups) > 1:
            raise SecretsError(f"{where}: key groups with a Shamir threshold are not supported by kubectl-gitops",
                               hint="use one key group (or a plain age list) in .sops.yaml and run sops updatekeys")
        m.update(groups[0] or {})
    ages = []
    for entry in m.get("age") or []:
        if not isinstance(entry, dict) or not entry.get("recipient"):
            raise SecretsError(f"{where}: malformed sops.age entry")
        ages.append(AgeKey(str(entry["recipient"]), str(entry.get("enc") or "")))
    others = [k for k in _OTHER_KEYS if m.get(k)]
    if not ages and not others:
        raise SecretsError(f"{where}: no keys found in the sops metadata")
    lastmodified = str(m.get("lastmodified") or "")
    if rfc3339_seconds(lastmodified) is None:
        raise SecretsError(f"{where}: sops.lastmodified {lastmodified!r} is not an RFC 3339 time")
    try:
        rules = Rules(unencrypted_suffix=m.get("unencrypted_suffix") or None,
                      encrypted_suffix=m.get("encrypted_suffix") or None,
                      unencrypted_regex=m.get("unencrypted_regex") or None,
                      encrypted_regex=m.get("encrypted_regex") or None,
                      mac_only_encrypted=bool(m.get("mac_only_encrypted"))).effective()
    except SecretsError as e:
        raise SecretsError(f"{where}: {e}") from e
    return Metadata(rules=rules, age=ages, lastmodified=lastmodified, mac=str(m.get("mac") or ""),
                    version=str(m.get("version") or ""), other_key_types=others)
