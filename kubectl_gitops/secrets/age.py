"""The age file format (https://age-encryption.org/v1), X25519 recipients only, on top of ``cryptography``.

sops wraps its 32-byte data key for each age recipient as an ASCII-armored age file. This module
writes and reads exactly that:

    age-encryption.org/v1
    -> X25519 <ephemeral share, base64 without padding>
    <wrapped file key, base64 without padding, 64 columns, last line shorter than 64>
    --- <HMAC-SHA-256 of the header up to "---", base64 without padding>
    <16-byte nonce><STREAM payload: ChaCha20-Poly1305 chunks of 64 KiB>

* file key: 16 random bytes; per recipient: ephemeral X25519 share, shared secret, wrapping key =
  HKDF-SHA-256(shared, salt = share ‖ recipient, info = "age-encryption.org/v1/X25519"), body =
  ChaCha20-Poly1305(wrapping key, zero nonce, file key).
* header MAC key = HKDF-SHA-256(file key, salt = "", info = "header").
* payload key = HKDF-SHA-256(file key, salt = nonce, info = "payload"); chunk nonce = 11-byte
  big-endian counter ‖ 0x01 for the last chunk (0x00 otherwise).
* Keys (``agekeys``) are Bech32 (BIP 173, not Bech32m, no 90-character limit): ``age1…`` recipients and
  ``AGE-SECRET-KEY-1…`` identities (upper case).

Other stanza types (scrypt, ssh-ed25519, plugins, post-quantum) are skipped when decrypting; an
identity that matches none of the stanzas gives ``NoIdentityMatch``.

Example::

    ident = Identity.generate()
    blob = encrypt(b"data key", [ident.recipient], armor=True)
    assert decrypt(blob, [ident]) == b"data key"
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kubectl_gitops.secrets.agekeys import AgeError, Identity, Recipient

INTRO = b"age-encryption.org/v1\n"
X25519_LABEL = b"age-encryption.org/v1/X25519"
ARMOR_HEADER = "-----BEGIN AGE ENCRYPTED FILE-----"
ARMOR_FOOTER = "-----END AGE ENCRYPTED FILE-----"
COLUMNS = 64
BYTES_PER_LINE = COLUMNS // 4 * 3
CHUNK = 64 * 1024
FILE_KEY_SIZE = 16
NONCE_SIZE = 16
TAG_SIZE = 16


class NoIdentityMatch(AgeError):
    """None of the identities can unwrap the file key (wrong key)."""


# --- primitives -------------------------------------------------------------------------------

def _hkdf(ikm: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt or None, info=info).derive(ikm)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    """Strict unpadded standard base64, as age requires."""
    if "=" in text or "\n" in text or "\r" in text:
        raise AgeError("malformed base64 in age header")
    padded = text + "=" * (-len(text) % 4)
    try:
        data = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as err:
        raise AgeError("malformed base64 in age header") from err
    if _b64(data) != text:  # non-canonical trailing bits
        raise AgeError("non-canonical base64 in age header")
    return data


def _wrap_lines(b64text: str) -> list[str]:
    lines = [b64text[i:i + COLUMNS] for i in range(0, len(b64text), COLUMNS)]
    if not lines or len(lines[-1]) == COLUMNS:
        lines.append("")  # the body always ends with a short (possibly empty) line
    return lines


@dataclass
class Stanza:
    type: str
    args: list[str]
    body: bytes

    def marshal(self) -> bytes:
        head = " ".join(["->", self.type, *self.args])
        return (head + "\n" + "\n".join(_wrap_lines(_b64(self.body))) + "\n").encode()


def _wrap_x25519(file_key: bytes, recipient: Recipient) -> Stanza:
    ephemeral = X25519PrivateKey.generate()
    share = ephemeral.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient.public))
    if shared == bytes(32):
        raise AgeError("invalid X25519 recipient (low-order point)")
    key = _hkdf(shared, share + recipient.public, X25519_LABEL)
    body = ChaCha20Poly1305(key).encrypt(bytes(12), file_key, None)
    return Stanza("X25519", [_b64(share)], body)


def _unwrap_x25519(stanza: Stanza, identity: Identity) -> bytes | None:
    if stanza.type != "X25519":
        return None
    if len(stanza.args) != 1:
        raise AgeError("invalid X25519 recipient block")
    share = _unb64(stanza.args[0])
    if len(share) != 32:
        raise AgeError("invalid X25519 recipient block")
    try:
        shared = identity.exchange(share)
    except ValueError as err:
        raise AgeError("invalid X25519 recipient block") from err
    if shared == bytes(32):
        raise AgeError("invalid X25519 recipient block")
    key = _hkdf(shared, share + identity.recipient.public, X25519_LABEL)
    if len(stanza.body) != FILE_KEY_SIZE + TAG_SIZE:
        raise AgeError("invalid X25519 recipient block: incorrect file key size")
    try:
        return ChaCha20Poly1305(key).decrypt(bytes(12), stanza.body, None)
    except Exception:
        return None  # not for this identity


def _header_mac(file_key: bytes, header_without_mac: bytes) -> bytes:
    return hmac.new(_hkdf(file_key, b"", b"header"), header_without_mac, hashlib.sha256).digest()


def _stream(key: bytes, data: bytes, encrypting: bool) -> bytes:
    aead = ChaCha20Poly1305(key)
    size = CHUNK if encrypting else CHUNK + TAG_SIZE
    chunks = [data[i:i + size] for i in range(0, len(data), size)] or [b""]
    if not encrypting and len(chunks) > 1 and len(chunks[-1]) == 0:
        chunks.pop()
    out = bytearray()
    for counter, chunk in enumerate(chunks):
        last = counter == len(chunks) - 1
        nonce = counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")
        if encrypting:
            out += aead.encrypt(nonce, chunk, None)
        else:
            if last and counter > 0 and len(chunk) == TAG_SIZE:
                raise AgeError("last chunk is empty")
            try:
                out += aead.decrypt(nonce, chunk, None)
            except Exception as err:
                raise AgeError("payload authentication failed (file corrupted)") from err
    return bytes(out)


# --- armor ------------------------------------------------------------------------------------

def armor(data: bytes) -> str:
    text = base64.b64encode(data).decode()
    lines = [text[i:i + COLUMNS] for i in range(0, len(text), COLUMNS)]
    return "\n".join([ARMOR_HEADER, *lines, ARMOR_FOOTER]) + "\n"


def dearmor(text: str) -> bytes:
    lines = [line.rstrip("\r") for line in text.strip().split("\n")]
    if len(lines) < 2 or lines[0] != ARMOR_HEADER or lines[-1] != ARMOR_FOOTER:
        raise AgeError("invalid armor: missing BEGIN/END lines")
    body = lines[1:-1]
    for i, line in enumerate(body):
        if not line:
            raise AgeError("invalid armor: empty line")
        if len(line) > COLUMNS or (i < len(body) - 1 and len(line) != COLUMNS):
            raise AgeError("invalid armor: bad line length")
    try:
        return base64.b64decode("".join(body), validate=True)
    except (binascii.Error, ValueError) as err:
        raise AgeError("invalid armor: bad base64") from err


# --- encrypt / decrypt ------------------------------------------------------------------------

def encrypt(data: bytes, recipients: Sequence[Recipient], *, armored: bool = True) -> bytes:
    """Encrypt ``data`` to every recipient. Armored output is ASCII text (as bytes)."""
    if not recipients:
        raise AgeError("no recipients")
    file_key = os.urandom(FILE_KEY_SIZE)
    header = INTRO + b"".join(_wrap_x25519(file_key, r).marshal() for r in recipients) + b"---"
    header += b" " + _b64(_header_mac(file_key, header)).encode() + b"\n"
    nonce = os.urandom(NONCE_SIZE)
    payload = nonce + _stream(_hkdf(file_key, nonce, b"payload"), data, True)
    blob = header + payload
    return armor(blob).encode() if armored else blob


def _parse_header(blob: bytes) -> tuple[list[Stanza], bytes, bytes, bytes]:
    """Return (stanzas, header bytes up to '---', mac, payload)."""
    if not blob.startswith(INTRO):
        raise AgeError("not an age file (unexpected intro)")
    pos = len(INTRO)
    stanzas: list[Stanza] = []
    valid_arg = re.compile(rb"^[\x21-\x7e]+$")
    while True:
        end = blob.find(b"\n", pos)
        if end < 0:
            raise AgeError("truncated age header")
        line = blob[pos:end]
        if line.startswith(b"---"):
            parts = line.split(b" ")
            if parts[0] != b"---" or len(parts) != 2:
                raise AgeError("malformed age header closing line")
            mac = _unb64(parts[1].decode("ascii", "replace"))
            if len(mac) != 32:
                raise AgeError("malformed age header MAC")
            return stanzas, blob[:pos + 3], mac, blob[end + 1:]
        parts = line.split(b" ")
        if parts[0] != b"->" or len(parts) < 2 or not all(valid_arg.match(p) for p in parts[1:]):
            raise AgeError("malformed age stanza")
        pos = end + 1
        body = b""
        while True:
            end = blob.find(b"\n", pos)
            if end < 0:
                raise AgeError("truncated age stanza")
            chunk = _unb64(blob[pos:end].decode("ascii", "replace"))
            if len(chunk) > BYTES_PER_LINE:
                raise AgeError("age stanza body line too long")
            body += chunk
            pos = end + 1
            if len(chunk) < BYTES_PER_LINE:
                break
        stanzas.append(Stanza(parts[1].decode(), [p.decode() for p in parts[2:]], body))


def decrypt(data: bytes | str, identities: Sequence[Identity]) -> bytes:
    """Decrypt an age file (armored or binary) with the first identity that matches a stanza."""
    if isinstance(data, str):
        data = data.encode()
    blob = dearmor(data.decode("ascii", "replace")) if data.lstrip().startswith(b"-----BEGIN") else data
    stanzas, header, mac, payload = _parse_header(blob)
    if not identities:
        raise NoIdentityMatch("no identities given")
    file_key = None
    for ident in identities:
        for stanza in stanzas:
            file_key = _unwrap_x25519(stanza, ident)
            if file_key is not None:
                break
        if file_key is not None:
            break
    if file_key is None:
        raise NoIdentityMatch("no identity matched any of the recipients")
    if not hmac.compare_digest(_header_mac(file_key, header), mac):
        raise AgeError("bad age header MAC")
    if len(payload) < NONCE_SIZE:
        raise AgeError("truncated age payload")
    nonce, body = payload[:NONCE_SIZE], payload[NONCE_SIZE:]
    return _stream(_hkdf(file_key, nonce, b"payload"), body, False)
