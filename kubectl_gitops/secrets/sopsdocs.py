"""The values and comments of parsed sops documents encrypted and decrypted in place, with the MAC over them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubectl_gitops.errors import SecretsError
from kubectl_gitops.redact import register
from kubectl_gitops.secrets import yaml12 as y12
from kubectl_gitops.secrets import yamlcomments
from kubectl_gitops.secrets.gotypes import UnsupportedValue, Value, python_scalar_value
from kubectl_gitops.secrets.sopscrypt import DecryptFailed, Stash, decrypt_value, encrypt_value, path_aad
from kubectl_gitops.secrets.sopsfile import SopsFile
from kubectl_gitops.secrets.sopsmeta import Rules

MAC_ONLY_ENCRYPTED_SEED = hashlib.sha256(b"sops").digest()


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
                    yamlcomments.after_replace(node, k, child)
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
                    yamlcomments.after_replace(node, i, child)
        for i, text in reversed(comments):  # sops turns comments in lists into items: make them comments again
            del node[i]
            yamlcomments.add_comment_before(node, i, text)


@dataclass
class _CommentItem:
    text: str


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
        enc = encrypt_value(value, data_key, path_aad(path), stash)
        if enc == "":
            return leaf  # empty strings stay as they were written
        return enc if f.fmt == "json" else y12.plain(enc)

    if f.layout is not None and f.layout.header and rules.should_encrypt(()):
        f.layout.header = _map_header(f.layout.header, lambda text: encrypt_value(
            Value("comment", text), data_key, path_aad(()), stash) or text)
    for doc in f.docs:
        if doc is None:
            continue
        if f.fmt == "yaml":
            for c in yamlcomments.comment_lines(doc):
                if c.text.startswith("ENC[AES256_GCM,") or not rules.should_encrypt(c.path):
                    continue
                enc = encrypt_value(Value("comment", c.text), data_key, path_aad(c.path), stash)
                if enc:
                    yamlcomments.set_comment_text(c, enc)
        _walk(doc, (), on_leaf, f.name, f.fmt)
    return h.hexdigest().upper()


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
                value = decrypt_value(str(current.data), data_key, path_aad(path), stash)
            except DecryptFailed as e:
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
                value = decrypt_value(text, data_key, path_aad(()), stash)
            except DecryptFailed:
                warnings.append(f"{f.name}: an encrypted comment could not be decrypted; kept as is")
                return text
            register(str(value.data))
            return str(value.data)

        f.layout.header = _map_header(f.layout.header, decrypt_header_line, only_encrypted=True)
    for doc in f.docs:
        if doc is None:
            continue
        if f.fmt == "yaml":
            for c in yamlcomments.comment_lines(doc):
                if not c.text.startswith("ENC[AES256_GCM,"):
                    continue
                value = None
                for n in range(len(c.path), -1, -1):  # the holder's path, then its ancestors
                    try:
                        value = decrypt_value(c.text, data_key, path_aad(c.path[:n]), stash)
                        break
                    except DecryptFailed:
                        continue
                if value is None:
                    warnings.append(f"{f.name}:{c.line + 1}: an encrypted comment could not be decrypted; kept as is")
                    continue
                register(str(value.data))
                yamlcomments.set_comment_text(c, str(value.data))
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
