"""Whole sops files (YAML and JSON) encrypted, decrypted and re-encrypted like sops 3.13 does, in memory.

A sops file is the original document with every selected value replaced by
``ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`` and a ``sops:`` block appended to each document:

* one random 32-byte **data key** encrypts the values: AES-256-GCM, a 32-byte random IV, the
  additional data is the key path joined by ``:`` plus a trailing ``:`` (``stringData:password:``);
  list indices are not part of the path. Comments are encrypted the same way (type ``comment``)
  with the path of the collection that holds them.
* the data key is wrapped for each age recipient (``sops.age[].enc``, an armored age file).
* the **MAC** is SHA-512 over the plaintext bytes of every value in document order (only the
  encrypted ones, seeded with sha256("sops"), when ``mac_only_encrypted``), upper-case hex,
  stored encrypted with the data key and ``lastmodified`` as additional data. Changing, adding,
  removing or reordering a value without the key breaks it.

Which values are encrypted: one rule per file (``unencrypted_suffix`` by default ``_unencrypted``,
or ``encrypted_suffix``, ``encrypted_regex``, ``unencrypted_regex``), tested against every key on
the value's path. Kubernetes repositories use ``encrypted_regex: ^(data|stringData)$``.

Re-encrypting a file we decrypted (``edit``) re-uses the data key and, for each unchanged
(value, path) pair, the IV it had: unchanged values keep identical ciphertext, so a one-value edit
changes one value line (plus ``lastmodified`` and ``mac``) in the git diff.

Nothing here prints, reads files or looks at the environment; ``keys`` finds identities and the
callers do the I/O. Every plaintext value decrypted here is registered with ``redact``.

The parts: ``sopsmeta`` (the ``sops:`` block and its rules), ``sopscrypt`` (the value cipher, the data key,
the MAC check), ``sopsfile`` (parse and render), ``sopsdocs`` (the document walk and the MAC),
``sopsrecipients`` (who may hold the data key); this module puts them together.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timezone

from kubectl_gitops.errors import SecretsError
from kubectl_gitops.secrets import agekeys
from kubectl_gitops.secrets import yaml12 as y12
from kubectl_gitops.secrets.gotypes import Value
from kubectl_gitops.secrets.sopscrypt import Stash, data_key_from, encrypt_value, new_data_key, verify_mac
from kubectl_gitops.secrets.sopsdocs import decrypt_docs, encrypt_docs
from kubectl_gitops.secrets.sopsfile import SopsFile, parse, render
from kubectl_gitops.secrets.sopsmeta import AgeKey, Metadata, Rules
from kubectl_gitops.secrets.sopsrecipients import wrap_data_key


class MacMismatchError(SecretsError):
    """The values do not match the file's MAC: changed without the key (sops exits 51 here)."""


class NoKeyError(SecretsError):
    """No available age identity can decrypt the data key (sops exits 128 here)."""


class NotEncryptedError(SecretsError):
    """The file has no sops metadata."""


@dataclass
class Decrypted:
    """The result of ``decrypt``: ``file`` now holds plaintext documents; keep ``data_key`` and
    ``stash`` to re-encrypt with minimal changes."""

    file: SopsFile = field(repr=False)  # plaintext documents
    metadata: Metadata
    data_key: bytes = field(repr=False)
    stash: Stash = field(repr=False)  # plaintext values by ciphertext
    mac_ok: bool
    warnings: list[str]


def _lastmodified_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def seal(f: SopsFile, rules: Rules, recipients: list[str], data_key: bytes, stash: Stash | None = None,
         keep: list[AgeKey] | None = None, allowed: Collection[str] | None = None) -> None:
    """Encrypt the plaintext documents of ``f`` and attach fresh metadata (MAC, lastmodified, keys).

    ``keep`` re-uses existing wrapped keys for these recipients instead of wrapping the data key anew;
    ``allowed`` (see ``wrap_data_key``) limits who may get a newly wrapped data key.
    """
    rules = rules.effective()
    if f.fmt == "yaml" and (not f.docs or f.docs[0] is None):
        f.docs[:1] = [y12.new_map([])]  # the sops block must go into the first document
    age_keys = wrap_data_key(data_key, recipients, keep, allowed)  # refuse before encrypting anything
    mac = encrypt_docs(f, rules, data_key, stash)
    lastmodified = _lastmodified_now()
    f.metadata = Metadata(
        rules=rules,
        age=age_keys,
        lastmodified=lastmodified,
        mac=encrypt_value(Value("str", mac), data_key, lastmodified),
    )


# --- whole files ------------------------------------------------------------------------------

def encrypt_text(text: str, fmt: str, rules: Rules, recipients: list[str], name: str = "<input>",
                 data_key: bytes | None = None, stash: Stash | None = None,
                 keep: list[AgeKey] | None = None) -> str:
    """Encrypt a plaintext YAML/JSON text (refuses one that is already encrypted)."""
    f = parse(text, fmt, name)
    if f.encrypted:
        raise SecretsError(f"{name} is already encrypted", hint="use `secrets edit` to change it")
    seal(f, rules, recipients, data_key or new_data_key(), stash, keep)
    return render(f)


def decrypt_file(f: SopsFile, identities_for: Callable[[str], list[agekeys.Identity]], sources: Callable[[], str],
                 *, verify: bool = True) -> Decrypted:
    """Decrypt a parsed sops file in place. Raises NoKeyError or MacMismatchError like sops."""
    if f.metadata is None:
        raise NotEncryptedError(f"{f.name} is not encrypted with sops (no sops metadata found)")
    meta = f.metadata
    data_key = data_key_from(meta, identities_for)
    if data_key is None:
        recipients = ", ".join(meta.recipients) or "none"
        extra = f"; it also has {', '.join(meta.other_key_types)} keys, which kubectl-gitops cannot use" \
            if meta.other_key_types else ""
        raise NoKeyError(
            f"cannot decrypt {f.name}: no age key could decrypt the data key",
            details=[f"file recipients: {recipients}{extra}", f"key sources tried: {sources()}"],
            hint="point SOPS_AGE_KEY_FILE at the keys.txt of one of the recipients, or ask someone who can "
                 "decrypt it to add your public key (.sops.yaml, then `kubectl gitops secrets updatekeys`)")
    stash: Stash = {}
    computed, warnings = decrypt_docs(f, data_key, stash)
    ok = verify_mac(meta, data_key, computed)
    if verify and not ok:
        raise MacMismatchError(
            f"MAC mismatch in {f.name}: the file's values do not match its MAC",
            details=["a value, its order or the sops block was changed without the key "
                     "(hand edit, bad merge or tampering)"],
            hint="restore the file from git, or re-apply the change with `kubectl gitops secrets edit`")
    return Decrypted(file=f, metadata=meta, data_key=data_key, stash=stash, mac_ok=ok, warnings=warnings)


def plaintext(f: SopsFile) -> str:
    """The text of a decrypted file, without the sops block."""
    return render(SopsFile(fmt=f.fmt, docs=f.docs, layout=f.layout, json_indent=f.json_indent, name=f.name))


def reencrypt(d: Decrypted, edited_text: str, allowed: Collection[str] | None = None) -> str:
    """Encrypt an edited plaintext with the same data key, rules and recipients; unchanged values keep
    their ciphertext (IV re-use, like sops' edit). ``allowed``: see ``wrap_data_key``; when None, nobody
    gets a newly wrapped data key (only recipients that hold one keep it)."""
    f = parse(edited_text, d.file.fmt, d.file.name)
    if f.encrypted:
        raise SecretsError(f"{d.file.name}: the edited text contains a sops block; remove it")
    meta = d.metadata
    seal(f, meta.rules, meta.recipients, d.data_key, d.stash, keep=meta.age,
         allowed=allowed if allowed is not None else ())
    return render(f)
