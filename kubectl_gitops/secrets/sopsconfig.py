""".sops.yaml: which files are encrypted, for whom, and which of their values.

::

    creation_rules:
      - path_regex: secrets/.*\\.ya?ml$     # RE2 syntax (as Go's regexp in sops), unanchored, linear time
        encrypted_regex: ^(data|stringData)$
        age: age1…,age1…                    # a comma-separated string or a list
      - path_regex: \\.env\\.json$
        key_groups:                         # one group only (several = Shamir, not supported)
          - age: [age1…]

The config is looked up from the file's folder upward (sops itself starts from the working
directory; in a repository both usually find the same file). ``path_regex`` is matched against the
file's path relative to the config's folder (absolute when the file is outside it), the first
matching rule wins, and a rule without ``path_regex`` matches everything.
Only age keys are supported: a rule naming pgp/kms/… keys is refused when encrypting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubectl_gitops.errors import SecretsError
from kubectl_gitops.secrets.sopsmeta import Rules, plain_data
from kubectl_gitops.untrusted import saferegex

CONFIG_NAME = ".sops.yaml"
ALTERNATE_NAME = ".sops.yml"
MAX_DEPTH = 100
_OTHER_KEY_FIELDS = ("pgp", "kms", "gcp_kms", "azure_keyvault", "hc_vault_transit_uri", "hckms")


@dataclass
class CreationRule:
    index: int
    path_regex: str | None
    recipients: list[str]
    rules: Rules
    other_keys: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return f"creation_rules[{self.index}]" + (f" (path_regex {self.path_regex!r})" if self.path_regex else "")


@dataclass
class SopsConfig:
    path: Path
    rules: list[CreationRule]

    @property
    def folder(self) -> Path:
        return self.path.parent.resolve()

    def relative(self, file: str | Path) -> str:
        """The path ``path_regex`` is matched against."""
        p = Path(file).resolve()
        try:
            return p.relative_to(self.folder).as_posix()
        except ValueError:
            return p.as_posix()

    def rule_for(self, file: str | Path) -> CreationRule | None:
        rel = self.relative(file)
        for rule in self.rules:
            if rule.path_regex is None or saferegex.search(rule.path_regex, rel, "path_regex",
                                                           where=f"{self.path}: {rule.describe()}",
                                                           error=SecretsError):
                return rule
        return None


def find_config(start: str | Path) -> Path | None:
    """The nearest ``.sops.yaml`` in ``start`` (a folder, or a file's folder) or above it."""
    p = Path(start).resolve()
    folder = p if p.is_dir() else p.parent
    for _ in range(MAX_DEPTH):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
        if folder.parent == folder:
            break
        folder = folder.parent
    return None


def _key_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [k.strip() for k in value.split(",") if k.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        out = []
        for v in value:
            out += [k.strip() for k in v.split(",") if k.strip()]
        return out
    raise SecretsError(f"{where}: age must be a string or a list of strings")


def parse_config(text: str, path: Path) -> SopsConfig:
    from kubectl_gitops.secrets import yaml12

    try:
        docs, _ = yaml12.load_all(text)
    except yaml12.YamlError as e:
        raise SecretsError(f"{path}{':' + str(e.line) if e.line else ''}: {e}") from e
    data = plain_data(docs[0]) if docs else {}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SecretsError(f"{path}: expected a mapping with creation_rules")
    rules = []
    for i, raw in enumerate(data.get("creation_rules") or []):
        where = f"{path}: creation_rules[{i}]"
        if not isinstance(raw, dict):
            raise SecretsError(f"{where}: expected a mapping")
        for name in ("unencrypted_comment_regex", "encrypted_comment_regex"):
            if raw.get(name):
                raise SecretsError(f"{where}: {name} is not supported by kubectl-gitops")
        if raw.get("shamir_threshold") and len(raw.get("key_groups") or []) > 1:
            raise SecretsError(f"{where}: key groups with shamir_threshold are not supported by kubectl-gitops",
                               hint="use a single key group or a plain `age:` list")
        recipients = _key_list(raw.get("age"), where)
        others = [k for k in _OTHER_KEY_FIELDS if raw.get(k)]
        groups = raw.get("key_groups") or []
        if groups:
            if len(groups) > 1:
                raise SecretsError(f"{where}: several key_groups (Shamir secret sharing) are not supported "
                                   "by kubectl-gitops", hint="use a single key group or a plain `age:` list")
            group = groups[0] or {}
            if not isinstance(group, dict):
                raise SecretsError(f"{where}: key_groups[0] must be a mapping")
            recipients = _key_list(group.get("age"), where)
            for merged in group.get("merge") or []:
                recipients += _key_list((merged or {}).get("age"), where)
            others = [k for k in (*_OTHER_KEY_FIELDS, "hc_vault", "azure_kv") if group.get(k)]
        pattern = raw.get("path_regex") or None
        if pattern is not None:
            saferegex.compile(str(pattern), "path_regex", where=where, error=SecretsError)
        try:
            selectors = Rules(
                unencrypted_suffix=raw.get("unencrypted_suffix") or None,
                encrypted_suffix=raw.get("encrypted_suffix") or None,
                unencrypted_regex=raw.get("unencrypted_regex") or None,
                encrypted_regex=raw.get("encrypted_regex") or None,
                mac_only_encrypted=bool(raw.get("mac_only_encrypted")),
            )
        except SecretsError as e:
            raise SecretsError(f"{where}: {e}", hint=e.hint) from e
        rules.append(CreationRule(i, str(pattern) if pattern is not None else None,
                                  list(dict.fromkeys(recipients)), selectors, others))
    return SopsConfig(path, rules)


def load_config(path: str | Path) -> SopsConfig:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise SecretsError(f"cannot read {p}: {e.strerror}") from e
    return parse_config(text, p)


def config_for(file: str | Path, config: str | Path | None = None) -> SopsConfig | None:
    """The config that governs ``file`` (an explicit path, else the nearest one above it)."""
    path = Path(config) if config else find_config(file)
    return load_config(path) if path else None
