"""Secrets in Git that stay secret: sops-compatible encryption with age keys, in Python.

Modules (import them directly; this package imports nothing heavy so ``--help`` stays fast):

=============  ================================================================================
age            the age file format (X25519, armor) on ``cryptography``
gotypes        scalar types and bytes exactly as sops (Go, yaml.v3) sees them
yaml12         YAML round-trip (ruamel.yaml) with yaml.v3 typing; comment positions
sops           the sops file format: encrypt, decrypt, MAC, metadata, re-encryption with IV re-use
keys           age key discovery like sops (SOPS_AGE_KEY, _FILE, _CMD, default keys.txt)
sopsconfig     .sops.yaml creation rules
check          ``secrets check``: plaintext, MAC and recipient checks for CI
gitsetup       git textconv and merge driver
=============  ================================================================================

The render pipeline calls :func:`decrypt_if_encrypted` on every manifest file. The keyring it uses follows
sops' key variables (``SOPS_AGE_KEY*``, read from the environment like sops does; see ``keys``).
"""

from __future__ import annotations

import os
from typing import Any

from kubectl_gitops.errors import SecretsError

__all__ = ["SecretsError", "decrypt_if_encrypted", "is_sops_text"]

_keyring_cache: dict[Any, Any] = {}


def is_sops_text(text: str) -> bool:
    """Cheap pre-test (no parsing): can this text be a sops-encrypted YAML/JSON file?"""
    return "sops" in text and "lastmodified" in text and "mac" in text


def _keyring() -> Any:
    """One keyring per process and key configuration (key files are re-read when they change)."""
    from kubectl_gitops.secrets.keys import KEY_CMD_ENV, KEY_ENV, KEY_FILE_ENV, Keyring, default_key_file

    env = dict(os.environ)
    stamp: list[Any] = [env.get(KEY_ENV), env.get(KEY_FILE_ENV), env.get(KEY_CMD_ENV)]
    for path in (env.get(KEY_FILE_ENV), str(default_key_file(env))):
        try:
            st = os.stat(path) if path else None
            stamp.append((path, st.st_mtime_ns, st.st_size) if st else None)
        except OSError:
            stamp.append((path, None))
    key = tuple(stamp)
    if key not in _keyring_cache:
        _keyring_cache.clear()
        _keyring_cache[key] = Keyring(env=env)
    return _keyring_cache[key]


def decrypt_if_encrypted(path: str, text: str) -> str:
    """``text`` unchanged unless it is a sops file; then its plaintext (decrypted in memory).

    ``path`` (relative or absolute) names the file in errors and picks the format (``.json`` is JSON,
    anything else YAML). Raises SecretsError naming the file and the key sources tried when no key
    fits, on a MAC mismatch, or for malformed sops metadata. Text that does not parse is returned unchanged
    for the renderer to report.

    Provenance: the paths of the encrypted leaves are reported to ``provenance.report_file(path, ...)``
    (diffs mask those fields, wherever they are), and every decrypted value is registered with
    ``redact.register_value`` (messages and logs), except values found only in identity fields (apiVersion,
    kind, name, namespace), which are printed in every message anyway.
    """
    if not is_sops_text(text):
        return text
    from kubectl_gitops import redact
    from kubectl_gitops.secrets import provenance, sops, sopsfile, sopsmeta

    try:
        f = sops.parse(text, sopsfile.format_for(path), path)
    except SecretsError:
        if "ENC[AES256_GCM," in text:
            raise
        return text
    if not f.encrypted:
        return text
    encrypted = [(list(provenance.encrypted_leaves(doc)), _list_lengths(doc)) for doc in f.docs]
    keyring = _keyring()
    with redact.capturing() as captured:
        try:
            sops.decrypt_file(f, keyring.identities_for, keyring.describe)
        except BaseException:
            for value in captured:  # nothing is printed from a file that failed, but stay on the safe side
                redact.register_value(value)
            raise
    paths: set[tuple[Any, ...]] = set()
    identity_values: set[str] = set()
    other_values: set[str] = set()
    for doc, (leaves, lengths) in zip(f.docs, encrypted, strict=True):
        plain = sopsmeta.plain_data(doc)
        for leaf in leaves:
            leaf = _after_removed_items(leaf, lengths, plain)
            paths.add(leaf)
            value = provenance.value_at(plain, leaf)
            if isinstance(value, str):
                (identity_values if leaf in provenance.IDENTITY else other_values).add(value)
    provenance.report_file(path, paths)
    for value in captured:
        if value not in identity_values or value in other_values:
            redact.register_value(value)
    return sops.plaintext(f)


def _list_lengths(node: Any, prefix: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    out: dict[tuple[Any, ...], int] = {}
    if isinstance(node, dict):
        for k, v in node.items():
            out.update(_list_lengths(v, (*prefix, str(k))))
    elif isinstance(node, list):
        out[prefix] = len(node)
        for i, v in enumerate(node):
            out.update(_list_lengths(v, (*prefix, i)))
    return out


def _after_removed_items(leaf: tuple[Any, ...], lengths: dict[tuple[Any, ...], int], plain: Any) -> tuple[Any, ...]:
    """An encrypted list item may decrypt to a comment, which is taken out of the list: the indices after
    it shift, so a path through a list whose length changed stands for the whole list."""
    from kubectl_gitops.secrets.provenance import value_at

    for j, seg in enumerate(leaf):
        if isinstance(seg, int):
            now = value_at(plain, leaf[:j])
            if not isinstance(now, list) or len(now) != lengths.get(leaf[:j]):
                return leaf[:j]
    return leaf
