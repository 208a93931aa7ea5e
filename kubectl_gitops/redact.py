"""The last line of defence against leaking secrets: every string the CLI writes passes through
``redact``. The secrets layer registers each plaintext it handles; registered values are replaced
by ``***`` wherever they appear, including in tracebacks.
"""

from __future__ import annotations

import base64
import threading

MASK = "***"
_lock = threading.Lock()
_secrets: set[str] = set()


def register(value: str | bytes) -> None:
    """Remember a secret value (and its base64 form) so it can never be printed."""
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError:
            return
    if len(value) < 4:  # too short to redact without destroying unrelated text
        return
    with _lock:
        _secrets.add(value)
        _secrets.add(base64.b64encode(value.encode()).decode())


def redact(text: str) -> str:
    if not _secrets:
        return text
    with _lock:
        values = sorted(_secrets, key=len, reverse=True)
    for v in values:
        if v in text:
            text = text.replace(v, MASK)
    return text


def clear() -> None:
    with _lock:
        _secrets.clear()


def snapshot() -> frozenset[str]:
    """The registered values, for tests that must leave the registry as they found it."""
    with _lock:
        return frozenset(_secrets)


def restore(values: frozenset[str]) -> None:
    with _lock:
        _secrets.clear()
        _secrets.update(values)
