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

The render pipeline calls :func:`decrypt_if_encrypted` on every manifest file.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import SecretsError

__all__ = ["SecretsError", "decrypt_if_encrypted", "is_sops_text"]

_keyring_cache: dict[Any, Any] = {}


def is_sops_text(text: str) -> bool:
    """Cheap pre-test (no parsing): can this text be a sops-encrypted YAML/JSON file?"""
    return "sops" in text and "lastmodified" in text and "mac" in text


def _keyring() -> Any:
    """One keyring per process and key configuration (key files are re-read when they change)."""
    from .keys import KEY_CMD_ENV, KEY_ENV, KEY_FILE_ENV, Keyring, default_key_file

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
    fits, on a MAC mismatch, or for malformed sops metadata. Every decrypted value is registered with
    ``redact``. Text that does not parse is returned unchanged for the renderer to report.
    """
    if not is_sops_text(text):
        return text
    from . import sops

    try:
        f = sops.parse(text, sops.format_for(path), path)
    except SecretsError:
        if "ENC[AES256_GCM," in text:
            raise
        return text
    if not f.encrypted:
        return text
    keyring = _keyring()
    sops.decrypt_file(f, keyring.identities_for, keyring.describe)
    return sops.plaintext(f)
