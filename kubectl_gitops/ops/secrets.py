"""What ``kubectl gitops secrets`` does to files (init, encrypt, decrypt, edit, updatekeys, rotate), without printing.

The CLI (kubectl_gitops.cli.secrets) parses options, asks and prints; warnings reach it through a ``warn``
callback, at the moment they arise. Decrypted text is returned to the caller, never logged.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kubectl_gitops.errors import InvalidInputError, OperationFailed, RefusedError, UsageError

Report = Callable[[str], None]  # a warning or note for the user, in the order it arises


def read(path: str) -> str:
    try:
        return Path(path).read_text()
    except FileNotFoundError as err:
        raise InvalidInputError(f"{path}: no such file") from err
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInputError(f"cannot read {path}: {e}") from e


def write_atomic(path: str, text: str) -> None:
    """Replace ``path`` with ``text`` (same folder temp file, then rename; the mode is kept)."""
    target = Path(path)
    mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def keyring():  # type: ignore[no-untyped-def]
    from kubectl_gitops.secrets.keys import Keyring

    return Keyring()


def decrypt(path: str, warn: Report, text: str | None = None):  # type: ignore[no-untyped-def]
    from kubectl_gitops.secrets import sops, sopsfile

    text = read(path) if text is None else text
    f = sops.parse(text, sopsfile.format_for(path), path)
    kr = keyring()
    d = sops.decrypt_file(f, kr.identities_for, kr.describe)
    for w in d.warnings:
        warn(w)
    return d


def rule_for(path: str, config_path: str | None):  # type: ignore[no-untyped-def]
    from kubectl_gitops.secrets.sopsconfig import config_for

    config = config_for(path, config_path)
    if config is None:
        return None, None
    return config, config.rule_for(path)


def rule_name(config, rule) -> str:  # type: ignore[no-untyped-def]
    from kubectl_gitops.secrets.check import rule_label

    return rule_label(config, rule) if rule is not None else ""


def open_guarded(file: str, config_path: str | None, action: str, warn: Report):  # type: ignore[no-untyped-def]
    """Parse FILE, refuse it when it lists a recipient its creation rule does not name (before decrypting
    anything), warn about recipients the rule names that it lacks, then decrypt it.
    Returns (decrypted, the rule's recipients or None when no rule matches)."""
    from kubectl_gitops.secrets import sops, sopsfile, sopsrecipients

    text = read(file)
    f = sops.parse(text, sopsfile.format_for(file), file)
    config, rule = rule_for(file, config_path)
    allowed = list(rule.recipients) if rule is not None else None
    if f.metadata is not None:
        mismatch = sopsrecipients.guard_recipients(f.metadata, allowed, file=file, rule=rule_name(config, rule),
                                                   action=action)
        if mismatch is not None and mismatch.missing:
            warn(f"{mismatch}; the file keeps its recipients (`kubectl gitops secrets updatekeys "
                 f"{file}` adds them)")
    return decrypt(file, warn, text), allowed


# --- init -------------------------------------------------------------------------------------

SOPS_YAML = """\
# Which files are encrypted, for whom, and which of their values (sops format).
# kubectl-gitops and the sops binary both read this file. Add a teammate's public key to `age`
# (comma-separated), then run `kubectl gitops secrets updatekeys` on the encrypted files.
creation_rules:
  - path_regex: {path_regex}
    encrypted_regex: ^(data|stringData)$
    age: {recipient}
"""
DEFAULT_PATH_REGEX = r"(^|/)[^/]*secrets?[^/]*\.(ya?ml|json)$"


@dataclass
class InitResult:
    key_file: Path  # the key file the new identity was appended to
    config: Path  # the .sops.yaml written
    recipient: str  # the new identity's public key


def init_files(key_file: str | None, directory: str, path_regex: str, force: bool) -> InitResult:
    """Append a new age identity to the key file and write a .sops.yaml with one creation rule for it."""
    from kubectl_gitops.secrets.agekeys import Identity, identity_file_text
    from kubectl_gitops.secrets.keys import standard_key_file

    config = Path(directory) / ".sops.yaml"
    if config.exists() and not force:
        raise RefusedError(f"{config} already exists; nothing was changed",
                           hint="pass --force to overwrite it, or add your key to its `age:` list by hand")
    import re

    try:
        re.compile(path_regex)
    except re.error as e:
        raise UsageError(f"--path-regex {path_regex!r} is not a valid regular expression: {e}") from e
    target = Path(key_file).expanduser() if key_file else standard_key_file()
    identity = Identity.generate()
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as fh:
        if fh.tell() > 0:
            fh.write("\n")
        fh.write(identity_file_text(identity, created))
    os.chmod(target, 0o600)
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(SOPS_YAML.format(path_regex=_yaml_single_quoted(path_regex), recipient=identity.recipient))
    return InitResult(key_file=target, config=config, recipient=str(identity.recipient))


def _yaml_single_quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --- encrypt / decrypt ------------------------------------------------------------------------

def encrypt(file: str, config_path: str | None, age_recipients: Iterable[str]) -> str:
    """The encrypted text of FILE, for the recipients of its creation rule or ``age_recipients``."""
    from kubectl_gitops.secrets import sops, sopsfile

    text = read(file)
    config, rule = rule_for(file, config_path)
    recipients = [r.strip() for a in age_recipients for r in a.split(",") if r.strip()]
    if rule is None and not recipients:
        where = f"no creation rule in {config.path} matches {file}" if config else \
            f"no .sops.yaml found in the folders above {file}"
        raise InvalidInputError(f"cannot encrypt {file}: {where}",
                                hint="run `kubectl gitops secrets init`, add a matching creation rule, or pass --age")
    if rule is not None and rule.other_keys and not recipients:
        raise InvalidInputError(f"cannot encrypt {file}: {rule.describe()} of {config.path} uses "
                                f"{', '.join(rule.other_keys)} keys; kubectl-gitops supports age keys only",
                                hint="use the sops binary for this file, or pass --age")
    rules = rule.rules if rule is not None else sops.Rules()
    return sops.encrypt_text(text, sopsfile.format_for(file), rules, recipients or rule.recipients, file)


def decrypt_text(file: str, ignore_mac: bool) -> tuple[str, bool]:
    """The plaintext of FILE and whether its MAC verified (checked unless ``ignore_mac``)."""
    from kubectl_gitops.secrets import sops, sopsfile

    f = sops.parse(read(file), sopsfile.format_for(file), file)
    kr = keyring()
    d = sops.decrypt_file(f, kr.identities_for, kr.describe, verify=not ignore_mac)
    return sops.plaintext(d.file), d.mac_ok


# --- edit -------------------------------------------------------------------------------------

def editor() -> list[str]:
    editor = os.environ.get("EDITOR") or os.environ.get("VISUAL") or "vi"
    try:
        argv = shlex.split(editor)
    except ValueError as e:
        raise UsageError(f"cannot parse $EDITOR {editor!r}: {e}") from e
    if not argv:
        raise UsageError("$EDITOR is empty")
    return argv


def run_editor(argv: list[str], path: Path) -> None:
    try:
        done = subprocess.run([*argv, str(path)], check=False)
    except FileNotFoundError as err:
        raise UsageError(f"editor {argv[0]!r} not found", hint="set $EDITOR (or $VISUAL)") from err
    if done.returncode != 0:
        raise OperationFailed(f"the editor exited with code {done.returncode}; nothing was changed")


def write_private(path: Path, text: str) -> None:
    """Create ``path`` (it must not exist) with mode 0600 and write ``text``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


# --- updatekeys / rotate ----------------------------------------------------------------------

@dataclass
class KeyUpdate:
    """One file whose recipients differ from its creation rule's."""

    file: str
    rule: Any  # sopsconfig.CreationRule
    mismatch: Any  # sopsrecipients.RecipientMismatch


def plan_updatekeys(files: Iterable[str], config_path: str | None, note: Report) -> list[KeyUpdate]:
    """The files whose recipients differ from their creation rule's; ``note`` hears of those that agree."""
    from kubectl_gitops.secrets import sops, sopsfile, sopsrecipients

    plan = []
    for file in files:
        config, rule = rule_for(file, config_path)
        if rule is None:
            raise InvalidInputError(f"{file}: no creation rule in .sops.yaml matches it; nothing to update",
                                    hint="add a creation rule for it, or pass --config")
        f = sops.parse(read(file), sopsfile.format_for(file), file)
        if f.metadata is None:
            raise InvalidInputError(f"{file} is not encrypted with sops; nothing to update",
                                    hint=f"encrypt it with `kubectl gitops secrets encrypt -i {file}`")
        if not rule.recipients:
            raise InvalidInputError(f"{file}: {rule_name(config, rule)} names no age recipients",
                                    hint="add `age: <public key>` to the rule")
        mismatch = sopsrecipients.recipient_mismatch(f.metadata, rule.recipients, file=file,
                                                     rule=rule_name(config, rule))
        if mismatch is None:
            note(f"{file}: recipients already match {rule_name(config, rule)}")
            continue
        plan.append(KeyUpdate(file, rule, mismatch))
    return plan


def change_lines(plan: list[KeyUpdate]) -> list[str]:
    lines = []
    for u in plan:
        lines += [f"{u.file}: + {r} (gets the data key)" for r in u.mismatch.missing]
        lines += [f"{u.file}: - {r} (removed)" for r in u.mismatch.extra]
    return lines


def apply_updatekeys(u: KeyUpdate, warn: Report) -> None:
    """Wrap the data key of ``u.file`` for exactly its rule's recipients and rewrite the file."""
    from kubectl_gitops.secrets import sops, sopsrecipients

    d = decrypt(u.file, warn)
    meta = d.metadata
    keep = [k for k in meta.age if k.recipient in u.rule.recipients]
    meta.age = sopsrecipients.wrap_data_key(d.data_key, list(u.rule.recipients), keep=keep,
                                            allowed=u.rule.recipients)
    encrypted = sops.parse(read(u.file), d.file.fmt, u.file)
    encrypted.metadata = meta
    write_atomic(u.file, sops.render(encrypted))


def rotate(file: str, config_path: str | None, warn: Report) -> str:
    """FILE re-encrypted with a new data key for the recipients its creation rule names."""
    from kubectl_gitops.secrets import sops

    config, rule = rule_for(file, config_path)
    if rule is None:
        where = f"no creation rule in {config.path} matches it" if config else "no .sops.yaml governs it"
        raise InvalidInputError(f"refusing to rotate {file}: {where}, and the file's own recipient list is not "
                                "protected by its MAC", hint="add a creation rule naming its recipients to .sops.yaml")
    d, allowed = open_guarded(file, config_path, "rotate", warn)
    f = d.file
    sops.seal(f, d.metadata.rules, d.metadata.recipients, sops.new_data_key(), allowed=allowed)
    return sops.render(f)
