"""age keys: ``age1…`` X25519 recipients and ``AGE-SECRET-KEY-1…`` identities, their Bech32 text, and ``AgeError``.

Keys are Bech32 (BIP 173, not Bech32m, no 90-character limit); the file format that uses them is ``age``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey


class AgeError(Exception):
    """A malformed key or age file. Messages never contain key material."""


# --- Bech32 (BIP 173) -------------------------------------------------------------------------

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: Iterable[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            if (top >> i) & 1:
                chk ^= _GEN[i]
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: Iterable[int], frm: int, to: int, pad: bool) -> list[int]:
    acc = bits = 0
    out: list[int] = []
    maxv = (1 << to) - 1
    for value in data:
        if value < 0 or value >> frm:
            raise AgeError("invalid data for bech32 conversion")
        acc = (acc << frm) | value
        bits += frm
        while bits >= to:
            bits -= to
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (to - bits)) & maxv)
    elif bits >= frm or ((acc << (to - bits)) & maxv):
        raise AgeError("invalid padding in bech32 data")
    return out


def bech32_encode(hrp: str, data: bytes) -> str:
    """Encode ``data`` under ``hrp``; the result is lower case (callers upper-case secret keys)."""
    hrp = hrp.lower()
    values = _convert_bits(data, 8, 5, True)
    polymod = _polymod([*_hrp_expand(hrp), *values, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[d] for d in values + checksum)


def bech32_decode(s: str) -> tuple[str, bytes]:
    """Return (hrp, data). Mixed case is rejected, as in age."""
    if s.lower() != s and s.upper() != s:
        raise AgeError("mixed case in bech32 string")
    s = s.lower()
    pos = s.rfind("1")
    if pos < 1 or pos + 7 > len(s):
        raise AgeError("malformed bech32 string")
    hrp, rest = s[:pos], s[pos + 1:]
    if any(ord(c) < 33 or ord(c) > 126 for c in hrp):
        raise AgeError("invalid character in bech32 prefix")
    try:
        values = [_CHARSET.index(c) for c in rest]
    except ValueError as err:
        raise AgeError("invalid character in bech32 data") from err
    if _polymod([*_hrp_expand(hrp), *values]) != 1:
        raise AgeError("invalid bech32 checksum")
    return hrp, bytes(_convert_bits(values[:-6], 5, 8, False))


# --- keys -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Recipient:
    """An X25519 public key, ``age1…``."""

    public: bytes

    @classmethod
    def parse(cls, text: str) -> Recipient:
        text = text.strip()
        if text.startswith("age1pq1"):
            raise AgeError("post-quantum age recipients (age1pq1…) are not supported")
        if text.startswith("ssh-"):
            raise AgeError("SSH recipients are not supported; use an age key (age1…)")
        if text.startswith("age1") and text.count("1") > 1 and not _is_x25519(text):
            raise AgeError("age plugin recipients are not supported")
        try:
            hrp, data = bech32_decode(text)
        except AgeError as e:
            raise AgeError(f"malformed age recipient {text!r}: {e}") from e
        if hrp != "age" or len(data) != 32:
            raise AgeError(f"malformed age recipient {text!r}: not an X25519 public key")
        return cls(data)

    def __str__(self) -> str:
        return bech32_encode("age", self.public)


def _is_x25519(text: str) -> bool:
    try:
        hrp, data = bech32_decode(text)
    except AgeError:
        return False
    return hrp == "age" and len(data) == 32


class Identity:
    """An X25519 secret key, ``AGE-SECRET-KEY-1…``. ``repr`` never shows the key."""

    __slots__ = ("_private", "_public", "recipient")

    def __init__(self, secret: bytes):
        if len(secret) != 32:
            raise AgeError("invalid X25519 secret key length")
        self._private = X25519PrivateKey.from_private_bytes(secret)
        self._public = self._private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.recipient = Recipient(self._public)

    @classmethod
    def generate(cls) -> Identity:
        return cls(os.urandom(32))

    @classmethod
    def parse(cls, text: str) -> Identity:
        text = text.strip()
        if not text.upper().startswith("AGE-SECRET-KEY-1"):
            raise AgeError("unknown identity type (expected AGE-SECRET-KEY-1…)")
        try:
            hrp, data = bech32_decode(text)
        except AgeError as e:
            raise AgeError(f"malformed age secret key: {e}") from e
        if hrp != "age-secret-key-" or len(data) != 32:
            raise AgeError("malformed age secret key")
        return cls(data)

    def secret_string(self) -> str:
        """The Bech32 secret key. Only for writing a key file; never print it."""
        raw = self._private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                          serialization.NoEncryption())
        return bech32_encode("AGE-SECRET-KEY-", raw).upper()

    def exchange(self, share: bytes) -> bytes:
        return self._private.exchange(X25519PublicKey.from_public_bytes(share))

    def __repr__(self) -> str:
        return f"Identity(recipient={self.recipient})"


def parse_identities(text: str, *, several_per_line: bool = False) -> list[Identity]:
    """Identities from a keys.txt-style text: one per line, ``#`` comments and blank lines skipped.

    ``several_per_line`` splits each line on whitespace (how sops reads ``SOPS_AGE_KEY``).
    """
    out: list[Identity] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        for word in (line.split() if several_per_line else [line]):
            out.append(Identity.parse(word))
    return out


def identity_file_text(identity: Identity, created: str) -> str:
    """The age-keygen layout: two comment lines and the secret key."""
    return f"# created: {created}\n# public key: {identity.recipient}\n{identity.secret_string()}\n"
