"""Regular expressions that come from a repository, matched in linear time.

A repository chooses sops' ``path_regex``/``encrypted_regex``/``unencrypted_regex`` and the patterns of
``test()`` in ignore rules; with Python's backtracking ``re`` a pattern like ``(a+)+$`` against a 40-character
key runs for hours. These patterns go to RE2 (the ``google-re2`` binding, maintained by the RE2 authors), which
matches in time linear in the input and bounds the memory of a compiled pattern (``max_mem``). RE2 is also the
syntax the patterns were written for: sops and gojq are Go programs, and Go's ``regexp`` is RE2. What RE2 does not
have (backreferences, lookaround, possessive quantifiers) is refused as invalid input naming where the pattern
came from, as sops refuses it.

Without an importable ``re2`` module (a platform or Python version google-re2 has no wheel for, e.g. the krew
archive on macOS < 13), a pattern from a repository is refused with that reason rather than run by a backtracking
engine. ``re2`` is imported on first use only.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from kubectl_gitops.errors import InvalidInputError

MAX_PATTERN = 4096  # characters; RE2's max_mem bounds the compiled program as well
MAX_MEM = 8 << 20  # RE2's own default, set explicitly: a larger program is an error, not an allocation
_HINT = ("write it in RE2 syntax (Go's regexp, what sops and Argo CD use): no backreferences (\\1), "
         "lookahead or lookbehind ((?=...), (?!...), (?<=...)) or possessive quantifiers")


class RegexError(InvalidInputError):
    """A pattern that cannot be used: not RE2 syntax, too large, or no RE2 engine available."""


class Pattern:
    """A compiled pattern: ``search(text)`` is True when it matches anywhere in ``text`` (Python's re.search)."""

    __slots__ = ("_re", "pattern")

    def __init__(self, pattern: str, compiled: Any):
        self.pattern = pattern
        self._re = compiled

    def search(self, text: str) -> bool:
        return self._re.search(text) is not None

    def __repr__(self) -> str:
        return f"Pattern({self.pattern!r})"


def compile(pattern: str, what: str, *, where: str = "",
            error: type[InvalidInputError] = RegexError) -> Pattern:
    """``pattern`` compiled with RE2, or ``error`` (exit 3) with a hint: "<where>: invalid <what> '<pattern>':
    <why>". ``what`` names the setting (``path_regex``), ``where`` the place it came from (``.sops.yaml:
    creation_rules[0]``), so the user can find it."""
    try:
        return _compile(pattern)
    except _Invalid as e:
        message, hint = e.args
        raise error(f"{where + ': ' if where else ''}{message.format(what=what)}", hint=hint) from e.__cause__


def search(pattern: str, text: str, what: str, *, where: str = "",
           error: type[InvalidInputError] = RegexError) -> bool:
    """``compile(pattern, what, ...).search(text)``; compiled patterns are cached."""
    return compile(pattern, what, where=where, error=error).search(text)


class _Invalid(Exception):
    """(message with a ``{what}`` field, hint): raised inside the cache, turned into the caller's error outside."""


@lru_cache(maxsize=256)
def _compile(pattern: str) -> Pattern:
    if not isinstance(pattern, str):
        raise _Invalid(f"{{what}} must be a string, not {type(pattern).__name__}", "quote the pattern")
    if len(pattern) > MAX_PATTERN:
        raise _Invalid(f"{{what}} is longer than {MAX_PATTERN} characters (the limit)", "use a shorter pattern")
    re2 = _engine()
    options = re2.Options()
    options.log_errors = False  # RE2 would write its own message to stderr
    options.max_mem = MAX_MEM
    try:
        return Pattern(pattern, re2.compile(pattern, options=options))
    except re2.error as e:
        reason = e.args[0].decode("utf-8", "replace") if e.args and isinstance(e.args[0], bytes) else str(e)
        quoted = repr(pattern).replace("{", "{{").replace("}", "}}")
        reason = reason.replace("{", "{{").replace("}", "}}")
        raise _Invalid(f"invalid {{what}} {quoted}: {reason}", _HINT) from e


def _engine() -> Any:
    try:
        import re2
    except ImportError as e:
        raise _Invalid("{what}: regular expressions from a repository need the RE2 engine (the google-re2 "
                       f"module), which cannot be imported here ({str(e).replace('{', '{{').replace('}', '}}')})",
                       "install google-re2 (`pip install google-re2`; the krew archives carry it for Linux and "
                       "macOS 13 or later)") from e
    return re2
