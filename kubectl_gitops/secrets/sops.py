"""The sops file format (YAML and JSON), written and read like sops 3.13 does, in memory.

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
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import os
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kubectl_gitops.errors import SecretsError
from kubectl_gitops.redact import register
from kubectl_gitops.secrets import age
from kubectl_gitops.secrets import yaml12 as y12
from kubectl_gitops.secrets.gotypes import UnsupportedValue, Value, python_scalar_value, rfc3339_seconds
from kubectl_gitops.untrusted import saferegex

SOPS_KEY = "sops"
SOPS_VERSION = "3.13.2"  # the sops release whose file format this module writes
DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"
MAC_ONLY_ENCRYPTED_SEED = hashlib.sha256(b"sops").digest()
IV_SIZE = 32
ENC_RE = re.compile(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]")

Stash = dict[tuple[str, bytes, str], bytes]


class MacMismatchError(SecretsError):
    """The values do not match the file's MAC: changed without the key (sops exits 51 here)."""


class NoKeyError(SecretsError):
    """No available age identity can decrypt the data key (sops exits 128 here)."""


class NotEncryptedError(SecretsError):
    """The file has no sops metadata."""


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


# --- values -----------------------------------------------------------------------------------

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


class _DecryptFailed(Exception):
    pass


def decrypt_value(text: str, key: bytes, aad: str, stash: Stash | None = None) -> Value:
    """sops' AES cipher ``Decrypt``; remembers the IV in ``stash`` for re-encryption."""
    if text == "":
        return Value("str", "")
    m = ENC_RE.match(text)
    if not m:
        raise _DecryptFailed("value is not in sops' ENC[AES256_GCM,...] format")
    try:
        data, iv, tag = (base64.b64decode(m.group(i), validate=True) for i in (1, 2, 3))
    except (binascii.Error, ValueError) as err:
        raise _DecryptFailed("malformed base64 in an ENC[...] value") from err
    if len(iv) < 8:
        raise _DecryptFailed("IV too short")
    try:
        raw = AESGCM(key).decrypt(iv, data + tag, aad.encode())
    except (InvalidTag, ValueError) as err:
        raise _DecryptFailed("authentication failed") from err
    try:
        value = Value.from_plaintext(m.group(4), raw)
    except UnsupportedValue as e:
        raise _DecryptFailed(str(e)) from e
    if stash is not None:
        stash[(value.kind, value.plaintext(), aad)] = iv
    return value


def _path_aad(path: tuple[str, ...]) -> str:
    return ":".join(path) + ":"


# --- documents --------------------------------------------------------------------------------

@dataclass
class SopsFile:
    """A parsed YAML/JSON file: its documents (without ``sops`` entries) and metadata if encrypted."""

    fmt: str  # "yaml" or "json"
    docs: list[Any]
    layout: y12.Layout | None = None
    json_indent: str | int | None = None
    metadata: Metadata | None = None
    name: str = "<input>"

    @property
    def encrypted(self) -> bool:
        return self.metadata is not None


def format_for(path: str) -> str:
    """sops picks the store by extension: ``.json`` is JSON, everything else we read as YAML."""
    return "json" if path.lower().endswith(".json") else "yaml"


def looks_encrypted(text: str) -> bool:
    """A cheap test before parsing: sops metadata needs these words."""
    return "sops" in text and "mac" in text and "lastmodified" in text


def _json_indent(text: str) -> str | int:
    m = re.search(r"\n([ \t]+)\S", text)
    if not m:
        return "\t"
    indent = m.group(1)
    return len(indent) if set(indent) == {" "} else indent


def parse(text: str, fmt: str, name: str = "<input>") -> SopsFile:
    """Parse ``text``; if it carries sops metadata, read it (from the first document, like sops)."""
    if fmt == "json":
        from kubectl_gitops.untrusted.yamldocs import LimitError, load_json

        try:
            doc = load_json(text)  # json.loads within the size and depth limits of every repository file
        except LimitError as e:
            raise SecretsError(f"{name}:{e.line}: {e.problem}", hint=e.hint) from e
        except json.JSONDecodeError as e:
            raise SecretsError(f"{name}:{e.lineno}: invalid JSON: {e.msg}") from e
        if not isinstance(doc, dict):
            raise SecretsError(f"{name}: only JSON files with a top-level object are supported (like sops)")
        docs, layout, indent = [doc], None, _json_indent(text)
    else:
        try:
            docs, layout = y12.load_all(text)
        except y12.YamlError as e:
            raise SecretsError(f"{name}{':' + str(e.line) if e.line else ''}: {e}") from e
        indent = None
    meta = None
    if docs and isinstance(docs[0], dict) and SOPS_KEY in docs[0]:
        meta = parse_metadata(docs[0][SOPS_KEY], name)
        for doc in docs:
            if isinstance(doc, dict):
                doc.pop(SOPS_KEY, None)
    for doc in docs:
        if doc is not None and not isinstance(doc, dict):
            raise SecretsError(f"{name}: YAML documents that are not mappings are not supported (like sops)")
    if layout is not None:
        docs = [y12.unshare(d) for d in docs]
    return SopsFile(fmt=fmt, docs=docs, layout=layout, json_indent=indent, metadata=meta, name=name)


def render(f: SopsFile) -> str:
    """The text of ``f``: with a ``sops`` entry in every document when encrypted."""
    docs = f.docs
    if f.metadata is not None:
        block = f.metadata.to_plain()
        out: list[Any] = []
        for d in docs:
            if d is None:
                out.append(d)
                continue
            d = copy.copy(d) if f.fmt == "json" else d
            d[SOPS_KEY] = block if f.fmt == "json" else _yaml_block(block)
            out.append(d)
        docs = out
    if f.fmt == "json":
        return json.dumps(docs[0], indent=f.json_indent if f.json_indent is not None else "\t",
                          ensure_ascii=False) + "\n"
    text = y12.dump_all(docs, f.layout or y12.Layout())
    if f.metadata is not None:  # the block must not stay attached to the documents in memory
        for d in f.docs:
            if isinstance(d, dict):
                d.pop(SOPS_KEY, None)
    return text


def _yaml_block(block: dict[str, Any]) -> Any:
    items: list[tuple[str, Any]] = []
    for k, v in block.items():
        if k == "age":
            v = y12.new_seq([y12.new_map([("enc", y12.literal(e["enc"])), ("recipient", e["recipient"])])
                             for e in v])
        elif k == "lastmodified":
            v = y12.quoted(v)
        elif isinstance(v, bool):
            v = "true" if v else "false"
        items.append((k, v))
    return y12.new_map(items)


# --- walking ----------------------------------------------------------------------------------

def leaf_value(fmt: str, leaf: Any) -> Value | None:
    return python_scalar_value(leaf) if fmt == "json" else y12.leaf_value(leaf)


def _to_leaf(fmt: str, value: Value) -> Any:
    if value.kind == "comment":
        return _CommentItem(str(value.data))
    if fmt == "json":
        return value.data
    return y12.yaml_leaf(value)


def _check_key(k: Any, fmt: str, where: str, path: tuple[str, ...]) -> None:
    """sops refuses non-string mapping keys (yaml.v3 decodes ``1:`` as an int key); so do we."""
    kind = type(k).__name__
    if isinstance(k, str):
        if fmt == "json":
            return
        try:
            value = y12.leaf_value(k)
        except UnsupportedValue:
            value = None
        if value is not None and value.kind == "str":
            return
        kind = value.kind if value is not None else "null"
    at = ".".join(path) or "the top level"
    raise SecretsError(f"{where}: key {str(k)!r} under {at} is a {kind}; sops supports only string keys",
                       hint="quote the key")


def _walk(node: Any, path: tuple[str, ...], on_leaf: Callable[[Any, tuple[str, ...]], Any], where: str,
          fmt: str = "yaml") -> None:
    if isinstance(node, dict):
        for k in list(node.keys()):
            _check_key(k, fmt, where, path)
            child = node[k]
            if isinstance(child, (dict, list)):
                _walk(child, (*path, k), on_leaf, where, fmt)
            else:
                new = on_leaf(child, (*path, k))
                if new is not child:
                    node[k] = new
                    y12.after_replace(node, k, child)
    elif isinstance(node, list):
        comments: list[tuple[int, str]] = []
        for i, child in enumerate(node):
            if isinstance(child, (dict, list)):
                _walk(child, path, on_leaf, where, fmt)
            else:
                new = on_leaf(child, path)
                if isinstance(new, _CommentItem):
                    comments.append((i, new.text))
                elif new is not child:
                    node[i] = new
                    y12.after_replace(node, i, child)
        for i, text in reversed(comments):  # sops turns comments in lists into items: make them comments again
            del node[i]
            y12.add_comment_before(node, i, text)


@dataclass
class _CommentItem:
    text: str


def _lastmodified_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def encrypt_docs(f: SopsFile, rules: Rules, data_key: bytes, stash: Stash | None = None) -> str:
    """Encrypt the documents of ``f`` in place and return the MAC (upper-case hex)."""
    rules = rules.effective()
    h = hashlib.sha512()
    if rules.mac_only_encrypted:
        h.update(MAC_ONLY_ENCRYPTED_SEED)

    def on_leaf(leaf: Any, path: tuple[str, ...]) -> Any:
        try:
            value = leaf_value(f.fmt, leaf)
        except UnsupportedValue as e:
            raise SecretsError(f"{f.name}: {'.'.join(path)}: {e}") from e
        if value is None:
            return leaf
        encrypted = rules.should_encrypt(path)
        if not rules.mac_only_encrypted or encrypted:
            h.update(value.plaintext())
        if not encrypted:
            return leaf
        enc = encrypt_value(value, data_key, _path_aad(path), stash)
        if enc == "":
            return leaf  # empty strings stay as they were written
        return enc if f.fmt == "json" else y12.plain(enc)

    if f.layout is not None and f.layout.header and rules.should_encrypt(()):
        f.layout.header = _map_header(f.layout.header, lambda text: encrypt_value(
            Value("comment", text), data_key, _path_aad(()), stash) or text)
    for doc in f.docs:
        if doc is None:
            continue
        if f.fmt == "yaml":
            for c in y12.comment_lines(doc):
                if c.text.startswith("ENC[AES256_GCM,") or not rules.should_encrypt(c.path):
                    continue
                enc = encrypt_value(Value("comment", c.text), data_key, _path_aad(c.path), stash)
                if enc:
                    y12.set_comment_text(c, enc)
        _walk(doc, (), on_leaf, f.name, f.fmt)
    return h.hexdigest().upper()


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


class _Macs:
    """The MAC exactly as sops computes it when decrypting, and the one sops computed when it
    encrypted: they differ for sops' own files with comments inside lists (sops writes those comments
    as list items, which it then hashes on decryption and reports as a MAC mismatch). Both cover
    every value."""

    def __init__(self, seed: bool):
        self.exact = hashlib.sha512()
        self.written = hashlib.sha512()
        if seed:
            self.exact.update(MAC_ONLY_ENCRYPTED_SEED)
            self.written.update(MAC_ONLY_ENCRYPTED_SEED)

    def update(self, value: Value | bytes) -> None:
        data = value if isinstance(value, bytes) else value.plaintext()
        self.exact.update(data)
        if not (isinstance(value, Value) and value.kind == "comment"):
            self.written.update(data)

    def hexdigests(self) -> list[str]:
        return [self.exact.hexdigest().upper(), self.written.hexdigest().upper()]


def decrypt_docs(f: SopsFile, data_key: bytes, stash: Stash | None = None) -> tuple[list[str], list[str]]:
    """Decrypt the documents of ``f`` in place. Returns (acceptable MACs, warnings); see ``_Macs``."""
    assert f.metadata is not None
    rules = f.metadata.rules
    h = _Macs(rules.mac_only_encrypted)
    warnings: list[str] = []

    def on_leaf(leaf: Any, path: tuple[str, ...]) -> Any:
        encrypted = rules.should_encrypt(path)
        dotted = ".".join(path) or "(top level)"
        try:
            current = leaf_value(f.fmt, leaf)
        except UnsupportedValue as e:
            raise SecretsError(f"{f.name}: {dotted}: {e}") from e
        if current is None:
            return leaf  # nulls are neither encrypted nor part of the MAC
        if encrypted:
            if current.kind != "str":
                raise SecretsError(f"{f.name}: {dotted}: expected an encrypted value, found a {current.kind}",
                                   hint="the file was edited by hand; restore it from git")
            if current.data == "":
                h.update(b"")
                return leaf  # empty strings are not encrypted; keep them as written
            try:
                value = decrypt_value(str(current.data), data_key, _path_aad(path), stash)
            except _DecryptFailed as e:
                raise SecretsError(f"{f.name}: {dotted}: cannot decrypt value ({e})",
                                   hint="the value was changed or moved without the key; restore it from git") from e
            h.update(value)
            if value.kind != "bool":  # "True" would mask every boolean in every output
                register(value.plaintext())
            return _to_leaf(f.fmt, value)
        if not rules.mac_only_encrypted:
            h.update(current)
        return leaf

    if f.layout is not None and f.layout.header:
        def decrypt_header_line(text: str) -> str:
            try:
                value = decrypt_value(text, data_key, _path_aad(()), stash)
            except _DecryptFailed:
                warnings.append(f"{f.name}: an encrypted comment could not be decrypted; kept as is")
                return text
            register(str(value.data))
            return str(value.data)

        f.layout.header = _map_header(f.layout.header, decrypt_header_line, only_encrypted=True)
    for doc in f.docs:
        if doc is None:
            continue
        if f.fmt == "yaml":
            for c in y12.comment_lines(doc):
                if not c.text.startswith("ENC[AES256_GCM,"):
                    continue
                value = None
                for n in range(len(c.path), -1, -1):  # the holder's path, then its ancestors
                    try:
                        value = decrypt_value(c.text, data_key, _path_aad(c.path[:n]), stash)
                        break
                    except _DecryptFailed:
                        continue
                if value is None:
                    warnings.append(f"{f.name}:{c.line + 1}: an encrypted comment could not be decrypted; kept as is")
                    continue
                register(str(value.data))
                y12.set_comment_text(c, str(value.data))
        _walk(doc, (), on_leaf, f.name, f.fmt)
    return h.hexdigests(), warnings


def _map_header(header: str, fn: Callable[[str], str], *, only_encrypted: bool = False) -> str:
    """Apply ``fn`` to the text after ``#`` of each comment line before the first ``---``."""
    out = []
    for line in header.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        ending = line[len(body):]
        stripped = body.lstrip()
        if stripped.startswith("#"):
            text = stripped[1:]
            is_encrypted = text.startswith("ENC[AES256_GCM,")
            if is_encrypted == only_encrypted:
                body = body[: len(body) - len(stripped)] + "#" + fn(text)
        out.append(body + ending)
    return "".join(out)


def data_key_from(meta: Metadata, identities_for: Callable[[str], list[age.Identity]]) -> bytes | None:
    """Unwrap the data key with the first identity that fits one of the file's age recipients."""
    for key in meta.age:
        ids = identities_for(key.recipient)
        if not ids or not key.enc:
            continue
        try:
            data_key = age.decrypt(key.enc.encode(), ids)
        except age.NoIdentityMatch:
            continue
        except age.AgeError as e:
            raise SecretsError(f"the age-encrypted data key for {key.recipient} is malformed: {e}") from e
        if len(data_key) != 32:
            raise SecretsError(f"the data key for {key.recipient} has the wrong length")
        return data_key
    return None


def verify_mac(meta: Metadata, data_key: bytes, computed: str | list[str]) -> bool:
    aad = rfc3339_seconds(meta.lastmodified) or meta.lastmodified
    try:
        stored = decrypt_value(meta.mac, data_key, aad)
    except _DecryptFailed:
        return False
    accepted = [computed] if isinstance(computed, str) else computed
    return stored.kind == "str" and stored.data in accepted


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


def wrap_data_key(data_key: bytes, recipients: list[str], keep: list[AgeKey] | None = None,
                  allowed: Collection[str] | None = None) -> list[AgeKey]:
    """The ``sops.age`` entries for ``recipients``: kept from ``keep`` when it holds a wrapped key for
    one, else the data key wrapped anew. With ``allowed`` (a creation rule's recipients), wrapping for
    anyone else is refused: the recipient list is not under the MAC, so it may have been tampered with."""
    if not recipients:
        raise SecretsError("no age recipients: add `age: <public key>` to the creation rule in .sops.yaml",
                           hint="run `kubectl gitops secrets init` to create a key and a .sops.yaml")
    existing = {k.recipient: k for k in keep or [] if k.enc}
    out = []
    for r in dict.fromkeys(recipients):  # de-duplicated, order kept
        if r in existing:
            out.append(existing[r])
            continue
        if allowed is not None and r not in allowed:
            raise RecipientsError(f"refusing to give the data key to {r}: no .sops.yaml creation rule names it",
                                  hint="add it to the rule's `age:` list, then run `kubectl gitops secrets "
                                       "updatekeys`")
        try:
            parsed = age.Recipient.parse(r)
        except age.AgeError as e:
            raise SecretsError(str(e)) from e
        out.append(AgeKey(r, age.encrypt(data_key, [parsed], armored=True).decode()))
    return out


# --- recipients -------------------------------------------------------------------------------
# sops' recipient list (``sops.age``) is not covered by the MAC: anyone can add ``{recipient: age1…}``
# with an empty ``enc`` to a file, and whoever next re-wraps the data key (an edit, a merge, sops
# updatekeys) would give it to them. So the creation rule of .sops.yaml, which is reviewed like code,
# decides who may hold the data key; the file's own list is only checked against it.


class RecipientsError(SecretsError):
    """A file's recipients are not the ones its creation rule names (exit 3)."""


@dataclass(frozen=True)
class RecipientMismatch:
    """How a file's recipients differ from its creation rule's."""

    file: str
    rule: str  # which rule of which .sops.yaml, for messages ("" when no rule matches the file)
    extra: tuple[str, ...]  # listed in the file, not named by the rule
    missing: tuple[str, ...]  # named by the rule, without a wrapped data key in the file

    def describe(self) -> str:
        parts = []
        if self.extra:
            parts.append(f"not named by the rule: {', '.join(self.extra)}")
        if self.missing:
            parts.append(f"named by the rule but without the data key: {', '.join(self.missing)}")
        return f"recipients differ from {self.rule or 'its creation rule'}: " + "; ".join(parts)

    def __str__(self) -> str:
        return f"{self.file}: {self.describe()}"


def recipient_mismatch(meta: Metadata, rule_recipients: Iterable[str], *, file: str,
                       rule: str = "") -> RecipientMismatch | None:
    """Pure: the recipients of ``meta`` compared with a creation rule's; None when they agree."""
    wanted = list(dict.fromkeys(rule_recipients))
    extra = tuple(dict.fromkeys(r for r in meta.recipients if r not in wanted))
    holding = {k.recipient for k in meta.age if k.enc}
    missing = tuple(r for r in wanted if r not in holding)
    if not extra and not missing:
        return None
    return RecipientMismatch(file, rule, extra, missing)


def guard_recipients(meta: Metadata, rule_recipients: list[str] | None, *, file: str, rule: str = "",
                     action: str = "edit", hint: str | None = None) -> RecipientMismatch | None:
    """Before ``action`` re-wraps or re-uses the data key of ``file``: refuse (RecipientsError) when the file
    lists a recipient its creation rule does not name, or, without a matching rule, a recipient without
    a wrapped key (someone it would be wrapped for anew). Returns the recipients the rule names that the
    file lacks (the caller warns: ``updatekeys`` adds them), or None."""
    if rule_recipients is None:
        unwrapped = [k.recipient for k in meta.age if not k.enc]
        if unwrapped:
            raise RecipientsError(
                f"refusing to {action} {file}: it lists {', '.join(unwrapped)} without a wrapped data key and no "
                ".sops.yaml creation rule matches the file to say who may have it",
                hint=f"remove the entry from the file's sops.age list, or add a creation rule for {file} to "
                     ".sops.yaml and run `kubectl gitops secrets updatekeys`")
        return None
    mismatch = recipient_mismatch(meta, rule_recipients, file=file, rule=rule)
    if mismatch is not None and mismatch.extra:
        raise RecipientsError(
            f"refusing to {action} {file}: it lists recipients {rule or 'its creation rule'} does not name: "
            f"{', '.join(mismatch.extra)}",
            details=["the recipient list is not protected by the MAC: anyone can add a key to it, and whoever "
                     "re-encrypts the file next would give that key the data key"],
            hint=hint or f"run `kubectl gitops secrets updatekeys {file}` (it shows the change and asks), or add "
                         "the recipient to the rule if it belongs there")
    return mismatch


def new_data_key() -> bytes:
    return os.urandom(32)


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


def decrypt_file(f: SopsFile, identities_for: Callable[[str], list[age.Identity]], sources: Callable[[], str],
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
