"""The last line of defence against leaking secrets: string replacement over text the CLI writes.

Two classes of registered values, because a repository must not be able to choose what is hidden:

* **credentials** (``register``): the user's tokens, passwords in remote URLs, client keys. The repository
  cannot choose them, so they are replaced by ``***`` in *every* string written, diff bodies included.
* **secret values** (``register_value``, or ``register`` inside ``values()``): what came out of sops
  decryption or a Vault placeholder. Anyone can sops-encrypt a string to a repository's public keys, so
  replacing such a value everywhere would let a pull request hide ``image: evil.example/miner:1.0`` from
  its reviewer. Diff bodies (``diff`` in every output format, the external diff program's files) are
  therefore masked *by provenance* (``diff.mask_provenance``: the fields whose value came from a secret)
  and only run through ``redact_credentials``; messages, logs, ``-v`` output and tracebacks still go
  through ``redact``, which replaces both classes.

``redact`` also catches the forms a value takes when it is printed inside other text (``forms``):
base64, YAML single-quoted (``'it''s'``), JSON-escaped (``\\"``, ``\\n``, ``\\u00e4`` as ``json.dumps``
writes with and without ``ensure_ascii``), YAML double-quoted (``\\xE4``), Python ``repr``, and each line
of a multi-line value that has at least ``LINE_MIN`` characters. Values shorter than ``MIN_LEN`` are not
registered: replacing ``ab`` in every message would destroy unrelated text (diff bodies still mask them
by provenance).

Hand-written (no library does this): one compiled alternation of every form, longest first, rebuilt only
when the registry changes.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

MASK = "***"
MIN_LEN = 4  # shorter values are not replaced in free text
LINE_MIN = 8  # lines of a multi-line value shorter than this are not replaced on their own

_lock = threading.RLock()
_secrets: set[str] = set()  # credentials: every form of each, replaced everywhere
_values: set[str] = set()  # secret values from the repository's secrets: every form of each
_raw_values: set[str] = set()  # the values as registered (for the provenance warnings)
_capture = threading.local()
_pattern: dict[str, re.Pattern[str] | None] = {}


def _text(value: str | bytes) -> str | None:
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return None
    return value


def forms(value: str) -> set[str]:
    """Every text ``value`` may be printed as: raw, base64, quoted, escaped, and its long-enough lines."""
    out = {value, base64.b64encode(value.encode()).decode()}
    out.add(value.replace("'", "''"))  # YAML single-quoted
    for ascii_only in (True, False):
        out.add(json.dumps(value, ensure_ascii=ascii_only)[1:-1])  # JSON (and most YAML double-quoted)
    out |= {_yaml_double_quoted(value, True), _yaml_double_quoted(value, False)}
    out.add(repr(value)[1:-1])  # Python's repr, as in a traceback's locals or an f-string with !r
    if "\n" in value or "\r" in value:
        for line in re.split(r"\r?\n|\r", value):
            line = line.strip()
            if len(line) >= LINE_MIN:
                out |= {line, line.replace("'", "''"), json.dumps(line)[1:-1]}
    return {f for f in out if len(f) >= MIN_LEN}


def _yaml_double_quoted(value: str, allow_unicode: bool) -> str:
    """How PyYAML writes ``value`` double-quoted (without the quotes and without line folding)."""
    import yaml

    try:
        text = yaml.dump(value, Dumper=yaml.SafeDumper, default_style='"', width=1 << 30,
                         allow_unicode=allow_unicode)
    except yaml.YAMLError:
        return value
    text = text.strip()
    if text.endswith("..."):
        text = text[:-3].rstrip()
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else value


def register(value: str | bytes) -> None:
    """Remember a credential so it is never printed (inside ``values()``: a secret value, see module doc)."""
    captured = getattr(_capture, "values", None)
    if captured is not None:
        text = _text(value)
        if text is not None:
            captured.append(text)
        return
    text = _text(value)
    if text is None or len(text) < MIN_LEN:
        return
    with _lock:
        _secrets.update(forms(text))
        _pattern.clear()


def register_value(value: str | bytes) -> None:
    """Remember a value that came from the repository's secrets (sops, placeholders): redacted in messages,
    logs and tracebacks, masked by provenance in diff bodies."""
    text = _text(value)
    if text is None or len(text) < MIN_LEN:
        return
    with _lock:
        _values.update(forms(text))
        _raw_values.add(text)
        _pattern.clear()


@contextmanager
def capturing() -> Iterator[list[str]]:
    """Collect what ``register`` is called with in this thread instead of registering it (the caller
    decides: ``secrets.decrypt_if_encrypted`` registers decrypted leaves with ``register_value``)."""
    previous = getattr(_capture, "values", None)
    captured: list[str] = []
    _capture.values = captured
    try:
        yield captured
    finally:
        _capture.values = previous


def _compiled(which: str) -> re.Pattern[str] | None:
    with _lock:
        if which not in _pattern:
            items = _secrets | (_values if which == "all" else set())
            _pattern[which] = (re.compile("|".join(re.escape(v) for v in sorted(items, key=len, reverse=True)))
                               if items else None)
        return _pattern[which]


def redact(text: str) -> str:
    """``text`` with every registered credential and secret value, in any of its forms, replaced by ``***``."""
    pattern = _compiled("all")
    return pattern.sub(MASK, text) if pattern is not None else text


def redact_credentials(text: str) -> str:
    """``text`` with credentials replaced; secret values are left to provenance masking (module doc)."""
    pattern = _compiled("credentials")
    return pattern.sub(MASK, text) if pattern is not None else text


def secret_values() -> frozenset[str]:
    """The registered secret values (not credentials), as registered."""
    with _lock:
        return frozenset(_raw_values)


def contains_secret_value(text: str) -> bool:
    """Whether ``text`` holds a registered secret value in any of its forms."""
    with _lock:
        if not _values:
            return False
        if "values" not in _pattern:
            _pattern["values"] = re.compile("|".join(re.escape(v) for v in sorted(_values, key=len, reverse=True)))
        pattern = _pattern["values"]
    return pattern is not None and pattern.search(text) is not None


def clear() -> None:
    with _lock:
        _secrets.clear()
        _values.clear()
        _raw_values.clear()
        _pattern.clear()


def snapshot() -> tuple[frozenset[str], ...]:
    """The registered values, for tests that must leave the registry as they found it."""
    with _lock:
        return frozenset(_secrets), frozenset(_values), frozenset(_raw_values)


def restore(values: tuple[frozenset[str], ...] | frozenset[str]) -> None:
    with _lock:
        clear()
        if isinstance(values, frozenset):  # an old-style snapshot: credentials only
            _secrets.update(values)
            return
        _secrets.update(values[0])
        _values.update(values[1])
        _raw_values.update(values[2])
