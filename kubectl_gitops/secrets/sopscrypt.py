"""sops' value cipher: ``ENC[AES256_GCM,...]`` values, the data key (new, unwrapped with age) and the MAC check."""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kubectl_gitops.errors import SecretsError
from kubectl_gitops.secrets import age, agekeys
from kubectl_gitops.secrets.gotypes import UnsupportedValue, Value, rfc3339_seconds
from kubectl_gitops.secrets.sopsmeta import Metadata

IV_SIZE = 32
ENC_RE = re.compile(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]")

Stash = dict[tuple[str, bytes, str], bytes]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def encrypt_value(value: Value, key: bytes, aad: str, stash: Stash | None = None) -> str:
    """sops' AES cipher ``Encrypt``: empty strings stay empty; IVs come from the stash when known."""
    plaintext = value.plaintext()
    if value.kind in ("str", "comment") and plaintext == b"":
        return ""
    iv = (stash or {}).get((value.kind, plaintext, aad)) or os.urandom(IV_SIZE)
    out = AESGCM(key).encrypt(iv, plaintext, aad.encode())
    return f"ENC[AES256_GCM,data:{_b64(out[:-16])},iv:{_b64(iv)},tag:{_b64(out[-16:])},type:{value.kind}]"


class DecryptFailed(Exception):
    pass


def decrypt_value(text: str, key: bytes, aad: str, stash: Stash | None = None) -> Value:
    """sops' AES cipher ``Decrypt``; remembers the IV in ``stash`` for re-encryption."""
    if text == "":
        return Value("str", "")
    m = ENC_RE.match(text)
    if not m:
        raise DecryptFailed("value is not in sops' ENC[AES256_GCM,...] format")
    try:
        data, iv, tag = (base64.b64decode(m.group(i), validate=True) for i in (1, 2, 3))
    except (binascii.Error, ValueError) as err:
        raise DecryptFailed("malformed base64 in an ENC[...] value") from err
    if len(iv) < 8:
        raise DecryptFailed("IV too short")
    try:
        raw = AESGCM(key).decrypt(iv, data + tag, aad.encode())
    except (InvalidTag, ValueError) as err:
        raise DecryptFailed("authentication failed") from err
    try:
        value = Value.from_plaintext(m.group(4), raw)
    except UnsupportedValue as e:
        raise DecryptFailed(str(e)) from e
    if stash is not None:
        stash[(value.kind, value.plaintext(), aad)] = iv
    return value


def path_aad(path: tuple[str, ...]) -> str:
    return ":".join(path) + ":"


def new_data_key() -> bytes:
    return os.urandom(32)


def data_key_from(meta: Metadata, identities_for: Callable[[str], list[agekeys.Identity]]) -> bytes | None:
    """Unwrap the data key with the first identity that fits one of the file's age recipients."""
    for key in meta.age:
        ids = identities_for(key.recipient)
        if not ids or not key.enc:
            continue
        try:
            data_key = age.decrypt(key.enc.encode(), ids)
        except age.NoIdentityMatch:
            continue
        except agekeys.AgeError as e:
            raise SecretsError(f"the age-encrypted data key for {key.recipient} is malformed: {e}") from e
        if len(data_key) != 32:
            raise SecretsError(f"the data key for {key.recipient} has the wrong length")
        return data_key
    return None


def verify_mac(meta: Metadata, data_key: bytes, computed: str | list[str]) -> bool:
    aad = rfc3339_seconds(meta.lastmodified) or meta.lastmodified
    try:
        stored = decrypt_value(meta.mac, data_key, aad)
    except DecryptFailed:
        return False
    accepted = [computed] if isinstance(computed, str) else computed
    return stored.kind == "str" and stored.data in accepted
