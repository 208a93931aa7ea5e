"""``secrets check``: are the repository's secrets encrypted? Offline, for CI and pre-commit.

For every YAML/JSON file under the given paths (hidden folders skipped):

* a file matched by a ``.sops.yaml`` creation rule must be sops-encrypted, its recipients must be
  the rule's (``updatekeys`` fixes a difference), and every value the file's rules select must be an
  ``ENC[...]`` value;
* its MAC must verify when an age key is at hand. Without a key the MAC cannot be checked (it is
  encrypted with the data key): the file is reported as "MAC not verified" and passes, unless
  ``require_mac`` is set. CI without keys still catches plaintext and hand-edited ciphertext
  shapes; a developer machine with a key also catches tampering;
* no Secret object anywhere may carry plaintext ``data``/``stringData`` (argocd-vault-plugin
  placeholders such as ``<path:kv/data/app#password>`` are not secrets and pass).

Files that do not parse (Helm templates, for instance) are skipped unless a rule matches them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubectl_gitops.errors import SecretsError
from kubectl_gitops.secrets import sops, sopscrypt, sopsdocs, sopsfile, sopsrecipients
from kubectl_gitops.secrets.keys import Keyring
from kubectl_gitops.secrets.sopsconfig import CreationRule, SopsConfig, config_for

EXTENSIONS = (".yaml", ".yml", ".json")
PLACEHOLDER = re.compile(r"^\s*<[^<>]+>\s*$|<path:[^>]+>")


@dataclass
class Finding:
    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


@dataclass
class CheckReport:
    problems: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    encrypted: list[str] = field(default_factory=list)
    checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def offending_files(self) -> list[str]:
        return sorted({f.path for f in self.problems})


def iter_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    for p in paths:
        path = Path(p)
        if path.is_file():
            yield path
            continue
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "node_modules")
            for name in sorted(files):
                if name.lower().endswith(EXTENSIONS) and name not in (".sops.yaml", ".sops.yml"):
                    yield Path(root) / name


def _is_plain_secret_value(fmt: str, v: Any) -> bool:
    try:
        value = sopsdocs.leaf_value(fmt, v)
    except ValueError:
        return True
    if value is None:
        return False
    text = str(value.data)
    return text != "" and not PLACEHOLDER.search(text) and not sopscrypt.ENC_RE.match(text)


def _secret_findings(fmt: str, doc: Any, encrypted: bool) -> list[str]:
    if not isinstance(doc, dict) or str(doc.get("kind", "")) != "Secret":
        return []
    api = str(doc.get("apiVersion", "v1"))
    if api not in ("v1", ""):
        return []
    name = ((doc.get("metadata") or {}) if isinstance(doc.get("metadata"), dict) else {}).get("name", "?")
    out = []
    for section in ("data", "stringData"):
        values = doc.get(section)
        if not isinstance(values, dict):
            continue
        plain = sorted(str(k) for k, v in values.items() if _is_plain_secret_value(fmt, v))
        if plain:
            how = "is not encrypted by its .sops.yaml rule" if encrypted else "is in a file that is not encrypted"
            out.append(f"Secret {name}: {section} {', '.join(plain)} {how} (plaintext in Git)")
    return out


def _structure_problems(f: sops.SopsFile) -> list[str]:
    """Values the file's rules select must be ENC[...] values (checkable without a key)."""
    assert f.metadata is not None
    rules = f.metadata.rules
    bad: list[str] = []

    def visit(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                visit(v, (*path, str(k)))
        elif isinstance(node, list):
            for v in node:
                visit(v, path)
        elif rules.should_encrypt(path):
            try:
                value = sopsdocs.leaf_value(f.fmt, node)
            except ValueError:
                value = sops.Value("int", 0)
            if value is not None and (value.kind != "str" or (value.data and not sopscrypt.ENC_RE.match(value.data))):
                bad.append(".".join(path))

    for doc in f.docs:
        visit(doc, ())
    return sorted(set(bad))


def check_file(path: Path, report: CheckReport, keyring: Keyring, *, require_mac: bool,
               config_override: str | None, configs: dict[Path, SopsConfig | None]) -> None:
    name = str(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        report.problems.append(Finding(name, f"cannot read: {e}"))
        return
    key = path.resolve().parent
    if key not in configs:
        configs[key] = config_for(path, config_override)
    config = configs[key]
    rule = config.rule_for(path) if config else None
    try:
        f = sops.parse(text, sopsfile.format_for(name), name)
    except SecretsError as e:
        if rule is not None:
            report.problems.append(Finding(name, f"matches {config.path.name} {rule.describe()} "  # type: ignore[union-attr]
                                                 f"but cannot be parsed: {e}"))
        return
    report.checked += 1
    for doc in f.docs:
        for problem in _secret_findings(f.fmt, doc, f.encrypted):
            report.problems.append(Finding(name, problem))
    if rule is not None and not f.encrypted:
        report.problems.append(Finding(name, f"matches {rule.describe()} of {config.path} but is not encrypted"  # type: ignore[union-attr]
                                             " (run `kubectl gitops secrets encrypt -i` on it)"))
        return
    if not f.encrypted:
        return
    report.encrypted.append(name)
    meta = f.metadata
    assert meta is not None
    bad = _structure_problems(f)
    if bad:
        report.problems.append(Finding(name, f"values that should be encrypted are not: {', '.join(bad)}"))
    if rule is not None:
        where = rule_label(config, rule)  # type: ignore[arg-type]
        mismatch = sopsrecipients.recipient_mismatch(meta, rule.recipients, file=name, rule=where)
        if mismatch is not None:
            report.problems.append(Finding(name, mismatch.describe()
                                           + " (run `kubectl gitops secrets updatekeys` on it)"))
    try:
        sops.decrypt_file(f, keyring.identities_for, keyring.describe)
    except sops.NoKeyError:
        note = "MAC not verified: no age key can decrypt it here"
        (report.problems if require_mac else report.notes).append(Finding(name, note))
    except sops.MacMismatchError:
        report.problems.append(Finding(name, "MAC mismatch: values were changed without the key "
                                             "(hand edit, bad merge or tampering)"))
    except SecretsError as e:
        report.problems.append(Finding(name, str(e).removeprefix(f"{name}: ")))


def _shown(path: Path) -> str:
    """A path as the user will recognise it: relative to the working directory when below it."""
    rel = os.path.relpath(path)
    return path.as_posix() if rel.startswith("..") else Path(rel).as_posix()


def rule_label(config: SopsConfig, rule: CreationRule) -> str:
    """``creation_rules[0] of deploy/.sops.yaml``: which rule decides, for messages."""
    return f"creation_rules[{rule.index}] of {_shown(config.path)}"


def recipients_warning(root: str | Path, rel: str, meta: sops.Metadata) -> str | None:
    """For ``diff``/``sync``: a warning when the sops file ``rel`` (relative to the checkout ``root``) lists
    recipients other than its creation rule's, None otherwise (also when no .sops.yaml inside ``root``
    governs it). Only a ``.sops.yaml`` inside ``root`` counts (nearest to the file, links that leave
    ``root`` ignored); this reads that file and nothing else."""
    from kubectl_gitops.secrets.sopsconfig import ALTERNATE_NAME, CONFIG_NAME, load_config
    from kubectl_gitops.untrusted.pathguard import is_inside

    top = Path(root)
    folder = (top / rel).parent
    config_path = None
    while is_inside(top, folder):
        for name in (CONFIG_NAME, ALTERNATE_NAME):
            candidate = folder / name
            if candidate.is_file() and is_inside(top, candidate):
                config_path = candidate
                break
        if config_path is not None or folder.resolve() == top.resolve():
            break
        folder = folder.parent
    if config_path is None:
        return None
    try:
        config = load_config(config_path)
    except SecretsError as e:
        return f"{rel}: recipients not checked: {e}"
    rule = config.rule_for(top / rel)
    if rule is None:
        return None
    where = f"creation_rules[{rule.index}] of {config_path.relative_to(top).as_posix()}"
    mismatch = sopsrecipients.recipient_mismatch(meta, rule.recipients, file=rel, rule=where)
    if mismatch is None:
        return None
    return f"{mismatch} (`kubectl gitops secrets check` fails on it; `secrets updatekeys {rel}` fixes it)"


def recipient_warnings(root: str | Path, rels: Iterable[str]) -> list[str]:
    """``recipients_warning`` for each sops file ``rels`` (paths relative to ``root`` as the render names them,
    e.g. the files ``provenance.recording()`` saw decrypted): the hook for ``diff``/``sync``, to be called
    while the checkout still exists. Reads only those files (links leaving ``root`` skipped) and their
    ``.sops.yaml``; never decrypts."""
    from kubectl_gitops.untrusted.pathguard import is_inside

    top = Path(root)
    out = []
    for rel in sorted(set(rels)):
        path = top / rel
        if not is_inside(top, path):
            continue
        try:
            f = sops.parse(path.read_text(), sopsfile.format_for(rel), rel)
        except (OSError, UnicodeDecodeError, SecretsError):
            continue
        if f.metadata is not None:
            warning = recipients_warning(top, rel, f.metadata)
            if warning:
                out.append(warning)
    return out


def check(paths: Iterable[str | Path], *, keyring: Keyring | None = None, require_mac: bool = False,
          config: str | None = None) -> CheckReport:
    """Check every YAML/JSON file under ``paths``; see the module docstring."""
    report = CheckReport()
    keyring = keyring or Keyring()
    configs: dict[Path, SopsConfig | None] = {}
    for path in iter_files(paths):
        check_file(path, report, keyring, require_mac=require_mac, config_override=config, configs=configs)
    return report
